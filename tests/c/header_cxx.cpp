// The header compiles as C++ (extern "C" guards, enum with a fixed underlying type) and links.
#include <nsmon.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

// The members the byte-names ABI added, with the types C sees.
static_assert(std::is_same<decltype(nsmon_bytes::bytes), const uint8_t *>::value, "bytes");
static_assert(std::is_same<decltype(nsmon_bytes::len), size_t>::value, "len");
static_assert(std::is_same<decltype(nsmon_link::alt_names), const nsmon_bytes *>::value, "alt");
static_assert(std::is_same<decltype(nsmon_link::family), uint8_t>::value, "family");
static_assert(std::is_same<decltype(nsmon_stream_event::lost), int64_t>::value, "stream lost");
static_assert(std::is_same<decltype(nsmon_nsid_event::lost), int64_t>::value, "nsid lost");
static_assert(std::is_same<decltype(nsmon_stream_event::reason), const char *>::value, "reason");
static_assert(sizeof(nsmon_stream_event_kind) == 4 && sizeof(nsmon_nsid_event_kind) == 4,
              "event kinds are uint32_t");
static_assert(NSMON_STREAM_EVENT_KIND_UNPARSED == 18 && NSMON_STREAM_EVENT_KIND_SYNC_FAILED == 19
                  && NSMON_NSID_EVENT_KIND_UNPARSED == 4,
              "new kinds");

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
    nsmon_stream_event stream_event{};
    nsmon_nsid_event nsid_event{};
    if (stream_event.reason || stream_event.link.alt_names || stream_event.link.name_len
        || stream_event.addr.label_len || stream_event.tc.kind_len || nsid_event.raw
        || nsid_event.reason || nsid_event.lost)
        return 1;
    if (nsmon_stream_next(nullptr, &stream_event) != NSMON_ERR_NULL
        || nsmon_nsid_next(nullptr, &nsid_event) != NSMON_ERR_NULL)
        return 1;
    std::printf("header_cxx: nsmon %s from C++\n", nsmon_version());
    return std::strlen(nsmon_last_error()) > 0 ? 0 : 1;
}
