// The header compiles as C++ (extern "C" guards, enum with a fixed underlying type) and links.
#include <nsmon.h>

#include <cstdio>
#include <cstring>

int main()
{
    nsmon_watcher_options *options = nullptr;
    if (nsmon_watcher_options_new(&options) != 0)
        return 1;
    nsmon_watcher_options_free(options);
    nsmon_watcher_event event{};
    event.kind = NSMON_WATCHER_EVENT_KIND_CREATED;
    static_assert(sizeof(event.name) == NSMON_NAME_SIZE, "name buffer size");
    if (nsmon_watcher_new(nullptr, nullptr) != NSMON_ERR_NULL)
        return 1;
    std::printf("header_cxx: nsmon %s from C++\n", nsmon_version());
    return std::strlen(nsmon_last_error()) > 0 ? 0 : 1;
}
