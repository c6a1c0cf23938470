/*
 * The C ABI matrix: every extern function of nsmon.h called with NULL for each pointer and with
 * out-of-range numbers, each answering with its documented code, changing nothing and leaking
 * nothing. Run by scripts/test.sh under valgrind and under AddressSanitizer/LeakSanitizer and
 * UBSan. Needs no root and no namespace.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static int never(void *userdata, const void *event)
{
    (void)userdata;
    (void)event;
    return 0;
}

#define NULLCODE(call) CHECK((call) == NSMON_ERR_NULL)

/* A `_next` that is refused or has nothing to give leaves the caller's event as it was (every
 * member, the new `lost`, `reason`, `raw`, lengths and `alt_names` included). */
#define SENTINEL 0xa5
#define POISON(ev) memset(&(ev), SENTINEL, sizeof(ev))
static int untouched(const void *event, size_t size)
{
    const unsigned char *b = event;
    for (size_t i = 0; i < size; i++)
        if (b[i] != SENTINEL)
            return 0;
    return 1;
}
#define UNTOUCHED(ev) CHECK(untouched(&(ev), sizeof(ev)))

static void plain_functions(void)
{
    CHECK(nsmon_version() != NULL && strlen(nsmon_version()) > 0);
    CHECK(nsmon_last_error() != NULL);
    for (int code = -20000; code <= 20000; code += 97)
        CHECK(nsmon_strerror(code) != NULL);
    CHECK(nsmon_strerror(INT_MIN) != NULL && nsmon_strerror(INT_MAX) != NULL);
    NULLCODE(nsmon_validate_name(NULL));
    CHECK(nsmon_validate_name("\xff") == NSMON_ERR_UTF8);
    CHECK(nsmon_validate_name("") == -EINVAL && nsmon_validate_name("..") == -EINVAL);
    CHECK(nsmon_validate_name("a/b") == -EINVAL && nsmon_validate_name("blue") == 0);
}

static void bad_refs(void)
{
    nsmon_netns_ref refs[] = {
        { .kind = 99 },
        { .kind = NSMON_NETNS_NAME, .str = NULL },
        { .kind = NSMON_NETNS_PATH, .str = NULL },
        { .kind = NSMON_NETNS_NAME, .str = "\xff" },
        { .kind = NSMON_NETNS_PID, .num = 0 },
        { .kind = NSMON_NETNS_PID, .num = -1 },
        { .kind = NSMON_NETNS_PID, .num = INT_MIN },
        { .kind = NSMON_NETNS_FD, .num = -1 },
        { .kind = NSMON_NETNS_FD, .num = INT_MIN },
        { .kind = UINT32_MAX },
    };
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        CHECK(nsmon_nsid_get(NULL, &refs[i]) < 0);
        nsmon_netns_id untouched = { .has_id = true, .id = 7, .dev = 7, .ino = 7 };
        CHECK(nsmon_netns_identify(&refs[i], &untouched) < 0);
        CHECK(untouched.id == 7 && untouched.ino == 7);
        CHECK(nsmon_nsid_get(&refs[i], NULL) < 0);
        CHECK(nsmon_nsid_set(&refs[i], &refs[i], NSMON_NSID_AUTO) < 0);
        nsmon_nsid_options *o;
        CHECK(nsmon_nsid_options_new(&o) == 0);
        CHECK(nsmon_nsid_options_set_observer(o, &refs[i]) < 0);
        nsmon_nsid_options_free(o);
    }
    NULLCODE(nsmon_nsid_get(NULL, NULL));
    NULLCODE(nsmon_nsid_set(NULL, NULL, 0));
    nsmon_netns_ref current = { .kind = NSMON_NETNS_CURRENT };
    CHECK(nsmon_nsid_set(NULL, &current, -2) < 0);
    CHECK(nsmon_nsid_set(NULL, &current, INT_MIN) < 0);
}

static void watcher(void)
{
    nsmon_watcher_options *o;
    nsmon_watcher *w;
    nsmon_watcher_event ev;
    NULLCODE(nsmon_watcher_options_new(NULL));
    NULLCODE(nsmon_watcher_options_set_dir(NULL, "/tmp"));
    NULLCODE(nsmon_watcher_options_set_list_existing(NULL, true));
    NULLCODE(nsmon_watcher_options_set_any_file(NULL, true));
    NULLCODE(nsmon_watcher_options_set_dir_events(NULL, true));
    NULLCODE(nsmon_watcher_options_add_dir(NULL, "/tmp"));
    NULLCODE(nsmon_watcher_options_set_runtimes(NULL, true));
    nsmon_watcher_options_free(NULL);
    CHECK(nsmon_watcher_options_new(&o) == 0);
    NULLCODE(nsmon_watcher_options_set_dir(o, NULL));
    CHECK(nsmon_watcher_options_set_dir(o, "") == -EINVAL);
    CHECK(nsmon_watcher_options_set_dir(o, "\xff") == 0); /* a path: any bytes */
    NULLCODE(nsmon_watcher_options_add_dir(o, NULL));
    CHECK(nsmon_watcher_options_add_dir(o, "") == -EINVAL);
    NULLCODE(nsmon_watcher_new(o, NULL));
    CHECK(nsmon_watcher_options_set_dir(o, "/tmp") == 0);
    CHECK(nsmon_watcher_new(o, &w) == 0);
    nsmon_watcher_options_free(o);
    NULLCODE(nsmon_watcher_fd(NULL));
    POISON(ev);
    NULLCODE(nsmon_watcher_next(NULL, &ev));
    UNTOUCHED(ev);
    NULLCODE(nsmon_watcher_next(w, NULL));
    NULLCODE(nsmon_watcher_dispatch(NULL, (nsmon_watcher_callback)never, NULL));
    NULLCODE(nsmon_watcher_dispatch(w, NULL, NULL));
    NULLCODE(nsmon_watcher_wait(NULL, 0));
    CHECK(nsmon_watcher_wait(w, 0) >= 0);
    nsmon_watcher_free(NULL);
    nsmon_watcher_free(w);
}

static void nsid(void)
{
    nsmon_nsid_options *o;
    nsmon_nsid *n;
    nsmon_nsid_event ev;
    NULLCODE(nsmon_nsid_options_new(NULL));
    NULLCODE(nsmon_nsid_options_set_observer(NULL, NULL));
    NULLCODE(nsmon_nsid_options_set_receive_buffer(NULL, 1));
    nsmon_nsid_options_free(NULL);
    CHECK(nsmon_nsid_options_new(&o) == 0);
    CHECK(nsmon_nsid_options_set_receive_buffer(o, SIZE_MAX) == 0); /* capped by the kernel */
    NULLCODE(nsmon_nsid_new(o, NULL));
    CHECK(nsmon_nsid_new(o, &n) == 0);
    nsmon_nsid_options_free(o);
    NULLCODE(nsmon_nsid_fd(NULL));
    POISON(ev);
    NULLCODE(nsmon_nsid_next(NULL, &ev));
    UNTOUCHED(ev);
    NULLCODE(nsmon_nsid_next(n, NULL));
    NULLCODE(nsmon_nsid_dispatch(NULL, (nsmon_nsid_callback)never, NULL));
    NULLCODE(nsmon_nsid_dispatch(n, NULL, NULL));
    NULLCODE(nsmon_nsid_wait(NULL, 0));
    CHECK(nsmon_nsid_wait(n, 0) == 0);
    POISON(ev);
    CHECK(nsmon_nsid_next(n, &ev) == 0);
    UNTOUCHED(ev);
    nsmon_nsid_free(NULL);
    nsmon_nsid_free(n);
}

static void stream(void)
{
    nsmon_stream_options *o;
    nsmon_stream *s;
    nsmon_stream_event ev;
    NULLCODE(nsmon_stream_options_new(NULL));
    NULLCODE(nsmon_stream_options_set_groups(NULL, 0));
    NULLCODE(nsmon_stream_options_set_dump(NULL, true));
    NULLCODE(nsmon_stream_options_set_resync_on_overrun(NULL, true));
    NULLCODE(nsmon_stream_options_set_receive_buffer(NULL, 0));
    nsmon_stream_options_free(NULL);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, UINT32_MAX) == -EINVAL);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_ALL + 1) == -EINVAL);
    CHECK(nsmon_stream_options_set_receive_buffer(o, SIZE_MAX) == 0);
    NULLCODE(nsmon_stream_new(NULL));
    CHECK(nsmon_stream_new(&s) == 0);
    NULLCODE(nsmon_stream_add(NULL, "k", NULL, o));
    NULLCODE(nsmon_stream_add(s, NULL, NULL, o));
    NULLCODE(nsmon_stream_add_all_nsid(NULL, "k", NULL, o));
    NULLCODE(nsmon_stream_add_all_nsid(s, NULL, NULL, o));
    int results[2] = { 7, 7 };
    const char *keys[2] = { "a", NULL };
    nsmon_netns_ref targets[2] = { { .kind = 99 }, { .kind = NSMON_NETNS_CURRENT } };
    NULLCODE(nsmon_stream_add_many(NULL, keys, targets, 2, o, results));
    NULLCODE(nsmon_stream_add_many(s, NULL, targets, 2, o, results));
    NULLCODE(nsmon_stream_add_many(s, keys, NULL, 2, o, results));
    NULLCODE(nsmon_stream_add_many(s, keys, targets, 2, o, NULL));
    CHECK(results[0] == 7 && results[1] == 7); /* refused calls write nothing */
    CHECK(nsmon_stream_add_many(s, keys, targets, 2, o, results) == 0);
    CHECK(results[0] == -EINVAL && results[1] == NSMON_ERR_NULL);
    NULLCODE(nsmon_stream_remove(NULL, "k"));
    NULLCODE(nsmon_stream_remove(s, NULL));
    CHECK(nsmon_stream_remove(s, "\xff") == NSMON_ERR_UTF8);
    NULLCODE(nsmon_stream_contains(NULL, "k"));
    NULLCODE(nsmon_stream_contains(s, NULL));
    nsmon_netns_id id;
    NULLCODE(nsmon_stream_identity(NULL, "k", &id));
    NULLCODE(nsmon_stream_identity(s, NULL, &id));
    NULLCODE(nsmon_stream_identity(s, "k", NULL));
    NULLCODE(nsmon_netns_identify(NULL, NULL));
    CHECK(nsmon_stream_identity(s, "not there", &id) == 0);
    NULLCODE(nsmon_stream_len(NULL));
    CHECK(nsmon_stream_len(s) == 0);
    NULLCODE(nsmon_stream_fd(NULL));
    POISON(ev);
    NULLCODE(nsmon_stream_next(NULL, &ev));
    UNTOUCHED(ev);
    NULLCODE(nsmon_stream_next(s, NULL));
    POISON(ev);
    NULLCODE(nsmon_stream_next_batch(NULL, &ev, 1));
    UNTOUCHED(ev);
    NULLCODE(nsmon_stream_next_batch(s, NULL, 1));
    CHECK(nsmon_stream_next_batch(s, NULL, 0) == 0);
    POISON(ev);
    CHECK(nsmon_stream_next_batch(s, &ev, 1) == 0);
    UNTOUCHED(ev);
    NULLCODE(nsmon_stream_dispatch(NULL, (nsmon_stream_callback)never, NULL));
    NULLCODE(nsmon_stream_dispatch(s, NULL, NULL));
    NULLCODE(nsmon_stream_wait(NULL, 0));
    CHECK(nsmon_stream_wait(s, 0) == 0);
    POISON(ev);
    CHECK(nsmon_stream_next(s, &ev) == 0);
    UNTOUCHED(ev);
    nsmon_stream_options_free(o);
    nsmon_stream_free(NULL);
    nsmon_stream_free(s);
}

static void inventory(void)
{
    nsmon_inventory_options *o;
    nsmon_inventory *inv = (nsmon_inventory *)0x1;
    nsmon_inventory_event ev;
    NULLCODE(nsmon_inventory_options_new(NULL));
    NULLCODE(nsmon_inventory_options_set_rescan_interval_ms(NULL, 0));
    NULLCODE(nsmon_inventory_options_set_fds(NULL, true));
    NULLCODE(nsmon_inventory_options_set_sockets(NULL, true));
    NULLCODE(nsmon_inventory_options_set_proc_events(NULL, true));
    nsmon_inventory_options_free(NULL);
    CHECK(nsmon_inventory_options_new(&o) == 0);
    /* Out of range: clamped to the shortest interval, not refused. */
    CHECK(nsmon_inventory_options_set_rescan_interval_ms(o, 0) == 0);
    CHECK(nsmon_inventory_options_set_rescan_interval_ms(o, UINT32_MAX) == 0);
    CHECK(nsmon_inventory_options_set_proc_events(o, false) == 0); /* no root needed */
    NULLCODE(nsmon_inventory_new(o, NULL));
    CHECK(inv == (nsmon_inventory *)0x1);
    CHECK(nsmon_inventory_new(o, &inv) == 0);
    nsmon_inventory_options_free(o);
    NULLCODE(nsmon_inventory_fd(NULL));
    POISON(ev);
    NULLCODE(nsmon_inventory_next(NULL, &ev));
    UNTOUCHED(ev);
    NULLCODE(nsmon_inventory_next(inv, NULL));
    NULLCODE(nsmon_inventory_dispatch(NULL, (nsmon_inventory_callback)never, NULL));
    NULLCODE(nsmon_inventory_dispatch(inv, NULL, NULL));
    NULLCODE(nsmon_inventory_wait(NULL, 0));
    NULLCODE(nsmon_inventory_snapshot(NULL));
    NULLCODE(nsmon_inventory_snapshot_get(NULL, 0, &ev));
    NULLCODE(nsmon_inventory_snapshot_get(inv, 0, NULL));
    /* Past the end of the snapshot: 0, the event untouched. */
    int count = nsmon_inventory_snapshot(inv);
    CHECK(count >= 0);
    POISON(ev);
    CHECK(nsmon_inventory_snapshot_get(inv, (size_t)count, &ev) == 0);
    UNTOUCHED(ev);
    CHECK(nsmon_inventory_snapshot_get(inv, SIZE_MAX, &ev) == 0);
    /* Drained: next has nothing, and leaves the event as it was. */
    while (nsmon_inventory_next(inv, &ev) == 1) {
    }
    POISON(ev);
    CHECK(nsmon_inventory_next(inv, &ev) == 0);
    UNTOUCHED(ev);
    CHECK(nsmon_inventory_wait(inv, 0) >= 0);
    nsmon_inventory_free(NULL);
    nsmon_inventory_free(inv);
}

int main(void)
{
    plain_functions();
    inventory();
    bad_refs();
    watcher();
    nsid();
    stream();
    printf("abi_matrix: all checks passed\n");
    return 0;
}
