/*
 * C test of the inventory's ABI, built through pkg-config against the installed libnsmon and
 * run under valgrind and the sanitizers by scripts/test.sh. Needs root (it makes a namespace
 * with unshare). Exits non-zero on the first failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nsmon.h>

#include "check.h"

static pid_t sleeper = -1;

static void cleanup(void)
{
    if (sleeper > 0) {
        kill(sleeper, SIGKILL);
        waitpid(sleeper, NULL, 0);
    }
}

static bool has_pid(const nsmon_inventory_event *ev, pid_t pid)
{
    for (size_t i = 0; i < ev->pids_len; i++)
        if (ev->pids[i] == (uint32_t)pid)
            return true;
    return false;
}

/* The next event of kind `kind` whose pids include `pid` (any pid when pid is 0), or about
 * namespace `id` (when id is not 0). */
static nsmon_inventory_event next_about(nsmon_inventory *inv, nsmon_inventory_event_kind kind,
                                        pid_t pid, uint64_t id)
{
    nsmon_inventory_event ev;
    for (int tries = 0; tries < 10000; tries++) {
        int rc = nsmon_inventory_next(inv, &ev);
        CHECK(rc >= 0);
        if (rc == 0) {
            CHECK(nsmon_inventory_wait(inv, 10000) == 1);
            continue;
        }
        if (ev.kind != kind)
            continue;
        if ((pid == 0 || has_pid(&ev, pid)) && (id == 0 || ev.netns_id.id == id))
            return ev;
    }
    CHECK(!"the event never came");
    return ev;
}

static int count_cb(void *userdata, const nsmon_inventory_event *ev)
{
    int *n = userdata;
    CHECK(ev->kind >= NSMON_INVENTORY_EVENT_KIND_APPEARED);
    (*n)++;
    return 0;
}

static void test_bad_input(void)
{
    nsmon_inventory *inv = (nsmon_inventory *)0x1;
    nsmon_inventory_options *o;
    nsmon_inventory_event ev;
    CHECK(nsmon_inventory_new(NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_options_new(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_options_set_rescan_interval_ms(NULL, 10) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_options_set_fds(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_options_set_proc_events(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_options_set_sockets(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_fd(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_next(NULL, &ev) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_dispatch(NULL, count_cb, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_wait(NULL, 0) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_snapshot(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_snapshot_get(NULL, 0, &ev) == NSMON_ERR_NULL);
    nsmon_inventory_free(NULL);
    nsmon_inventory_options_free(NULL);
    CHECK(nsmon_inventory_options_new(&o) == 0);
    CHECK(nsmon_inventory_options_set_proc_events(o, false) == 0);
    CHECK(nsmon_inventory_new(o, &inv) == 0);
    nsmon_inventory_options_free(o);
    CHECK(nsmon_inventory_next(inv, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_dispatch(inv, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_inventory_snapshot_get(inv, 0, NULL) == NSMON_ERR_NULL);
    nsmon_inventory_free(inv);
}

static void test_snapshot_and_events(void)
{
    nsmon_inventory_options *o;
    nsmon_inventory *inv;
    nsmon_inventory_event ev;
    CHECK(nsmon_inventory_options_new(&o) == 0);
    CHECK(nsmon_inventory_options_set_rescan_interval_ms(o, 100) == 0);
    CHECK(nsmon_inventory_options_set_sockets(o, true) == 0);
    CHECK(nsmon_inventory_new(o, &inv) == 0);
    nsmon_inventory_options_free(o);
    CHECK(nsmon_inventory_fd(inv) >= 0);

    /* The caller's own namespace is in the snapshot, with this process among its pids. */
    nsmon_netns_ref current = { .kind = NSMON_NETNS_CURRENT };
    nsmon_netns_id own;
    CHECK(nsmon_netns_identify(&current, &own) == 0);
    int count = nsmon_inventory_snapshot(inv);
    CHECK(count >= 1);
    bool found = false;
    for (int i = 0; i < count; i++) {
        CHECK(nsmon_inventory_snapshot_get(inv, (size_t)i, &ev) == 1);
        CHECK(ev.kind == NSMON_INVENTORY_EVENT_KIND_APPEARED);
        if (ev.netns_id.id == own.id && ev.netns_id.ino == own.ino) {
            found = true;
            CHECK(has_pid(&ev, getpid()));
        }
    }
    CHECK(found);
    CHECK(nsmon_inventory_snapshot_get(inv, (size_t)count, &ev) == 0);

    /* The namespaces present at start came as APPEARED events: dispatch takes them. */
    int n = 0;
    CHECK(nsmon_inventory_dispatch(inv, count_cb, &n) >= 1);
    CHECK(n >= 1);

    /* A namespace of a new process appears with it and goes with it. */
    sleeper = fork();
    CHECK(sleeper >= 0);
    if (sleeper == 0) {
        execlp("unshare", "unshare", "-n", "sleep", "30", (char *)NULL);
        _exit(127);
    }
    ev = next_about(inv, NSMON_INVENTORY_EVENT_KIND_APPEARED, sleeper, 0);
    uint64_t id = ev.netns_id.id;
    CHECK(ev.netns_id.has_id && id != own.id);
    CHECK(ev.pids_len == 1 && ev.names_len == 0 && ev.fds_len == 0 && ev.reason == NULL);
    CHECK(ev.sockets_len == 0);
    kill(sleeper, SIGKILL);
    waitpid(sleeper, NULL, 0);
    sleeper = -1;
    ev = next_about(inv, NSMON_INVENTORY_EVENT_KIND_GONE, 0, id);
    CHECK(ev.netns_id.id == id && ev.pids == NULL);
    nsmon_inventory_free(inv);
}

int main(void)
{
    atexit(cleanup);
    test_bad_input();
    test_snapshot_and_events();
    printf("inventory_test: all checks passed\n");
    return 0;
}
