/*
 * C test of the NSID ABI, built through pkg-config against the installed libnsmon and run under
 * valgrind by scripts/test.sh. Needs root: it adds real namespaces (removed at exit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nsmon.h>

#include "check.h"

static char ns_a[64], ns_b[64];


static void sh(const char *fmt, const char *arg)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, fmt, arg);
    CHECK(system(cmd) == 0);
}

static void cleanup(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null", ns_a, ns_b);
    if (system(cmd) != 0) { /* already gone */ }
}

static nsmon_netns_ref by_name(const char *name)
{
    nsmon_netns_ref r = { .kind = NSMON_NETNS_NAME, .str = name, .num = 0 };
    return r;
}

/* What every event promises: `lost` only for OVERRUN, `raw` and `reason` only for UNPARSED
 * (which no namespace of these tests should cause). */
static void check_event(const nsmon_nsid_event *ev)
{
    if (ev->kind == NSMON_NSID_EVENT_KIND_UNPARSED)
        fprintf(stderr, "UNPARSED NSID message (%zu bytes): %s\n", ev->raw_len, ev->reason);
    CHECK(ev->kind >= NSMON_NSID_EVENT_KIND_NEW_NSID && ev->kind <= NSMON_NSID_EVENT_KIND_OVERRUN);
    CHECK(ev->raw == NULL && ev->raw_len == 0 && ev->reason == NULL);
    if (ev->kind == NSMON_NSID_EVENT_KIND_OVERRUN)
        CHECK(ev->nsid == -1 && ev->lost >= -1);
    else
        CHECK(ev->nsid >= 0 && ev->lost == 0);
}

/* Waits until an event of `kind` for `id` arrives. */
static void expect_event(nsmon_nsid *s, nsmon_nsid_event_kind kind, int id)
{
    nsmon_nsid_event ev;
    for (;;) {
        int rc = nsmon_nsid_next(s, &ev);
        CHECK(rc >= 0);
        if (rc == 0) {
            CHECK(nsmon_nsid_wait(s, 10000) == 1);
            continue;
        }
        check_event(&ev);
        if (ev.kind == kind && ev.nsid == id)
            return;
    }
}

static void test_bad_input(void)
{
    nsmon_nsid *s = (nsmon_nsid *)0x1;
    nsmon_nsid_options *o;
    nsmon_nsid_event ev;
    nsmon_netns_ref r;

    CHECK(nsmon_nsid_new(NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_options_new(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_options_set_observer(NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_options_set_receive_buffer(NULL, 1) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_fd(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_next(NULL, &ev) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_dispatch(NULL, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_nsid_wait(NULL, 0) == NSMON_ERR_NULL);
    nsmon_nsid_free(NULL);
    nsmon_nsid_options_free(NULL);

    CHECK(nsmon_nsid_get(NULL, NULL) == NSMON_ERR_NULL);
    r = by_name("a/b");
    CHECK(nsmon_nsid_get(NULL, &r) == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "'/'") != NULL);
    r = by_name("..");
    CHECK(nsmon_nsid_set(NULL, &r, NSMON_NSID_AUTO) == -EINVAL);
    r = by_name("nsmon-t-c-no-such-namespace");
    CHECK(nsmon_nsid_get(NULL, &r) == -ENOENT);
    r = by_name("\xff\xfe");
    CHECK(nsmon_nsid_get(NULL, &r) == NSMON_ERR_UTF8);
    r = by_name(NULL);
    CHECK(nsmon_nsid_get(NULL, &r) == NSMON_ERR_NULL);
    r.kind = NSMON_NETNS_PATH;
    r.str = "/etc/hostname";
    CHECK(nsmon_nsid_get(NULL, &r) == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "not a network namespace") != NULL);
    r.kind = NSMON_NETNS_PID;
    r.num = -5;
    CHECK(nsmon_nsid_get(NULL, &r) == -EINVAL);
    r.num = 2147483000;
    CHECK(nsmon_nsid_get(NULL, &r) == -ESRCH);
    r.kind = NSMON_NETNS_FD;
    r.num = -1;
    CHECK(nsmon_nsid_get(NULL, &r) == -EINVAL);
    r.kind = 99;
    CHECK(nsmon_nsid_get(NULL, &r) == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "unknown kind") != NULL);

    /* A bad observer is refused by set_observer (form) or by new (existence). */
    CHECK(nsmon_nsid_options_new(&o) == 0);
    CHECK(nsmon_nsid_options_set_observer(o, &r) == -EINVAL);
    r = by_name("nsmon-t-c-no-such-namespace");
    CHECK(nsmon_nsid_options_set_observer(o, &r) == 0);
    CHECK(nsmon_nsid_new(o, &s) == -ENOENT);
    CHECK(s == (nsmon_nsid *)0x1);
    nsmon_nsid_options_free(o);
    CHECK(strcmp(nsmon_strerror(NSMON_NSID_NOT_ASSIGNED), "no nsid assigned (an answer, not an error)") == 0);
}

static int count_cb(void *userdata, const nsmon_nsid_event *ev)
{
    int *n = userdata;
    check_event(ev);
    if (ev->kind == NSMON_NSID_EVENT_KIND_NEW_NSID)
        (*n)++;
    return 0;
}

static void test_subscriber_and_queries(void)
{
    nsmon_nsid *s;
    nsmon_netns_ref a = by_name(ns_a), b = by_name(ns_b);

    CHECK(nsmon_nsid_new(NULL, &s) == 0);
    CHECK(nsmon_nsid_fd(s) >= 0);
    sh("ip netns add %s", ns_a);
    CHECK(nsmon_nsid_get(NULL, &a) == NSMON_NSID_NOT_ASSIGNED);
    int id = nsmon_nsid_set(NULL, &a, NSMON_NSID_AUTO);
    CHECK(id >= 0);
    expect_event(s, NSMON_NSID_EVENT_KIND_NEW_NSID, id);
    CHECK(nsmon_nsid_get(NULL, &a) == id);
    CHECK(nsmon_nsid_set(NULL, &a, NSMON_NSID_AUTO) == id);
    CHECK(nsmon_nsid_set(NULL, &a, id + 1) == -EEXIST);

    /* By path and by fd. */
    char path[128];
    snprintf(path, sizeof path, "/var/run/netns/%s", ns_a);
    nsmon_netns_ref p = { .kind = NSMON_NETNS_PATH, .str = path };
    CHECK(nsmon_nsid_get(NULL, &p) == id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    nsmon_netns_ref f = { .kind = NSMON_NETNS_FD, .num = fd };
    CHECK(nsmon_nsid_get(NULL, &f) == id);
    close(fd);

    /* Seen from namespace a, namespace b gets its own id; the caller's view is untouched. */
    sh("ip netns add %s", ns_b);
    int inside = nsmon_nsid_set(&a, &b, 7);
    CHECK(inside == 7);
    CHECK(nsmon_nsid_get(&a, &b) == 7);
    CHECK(nsmon_nsid_get(NULL, &b) == NSMON_NSID_NOT_ASSIGNED);

    /* dispatch */
    CHECK(nsmon_nsid_set(NULL, &b, NSMON_NSID_AUTO) >= 0);
    int n = 0;
    while (n == 0) {
        CHECK(nsmon_nsid_wait(s, 10000) == 1);
        CHECK(nsmon_nsid_dispatch(s, count_cb, &n) >= 0);
    }
    CHECK(n >= 1);

    sh("ip netns del %s", ns_a);
    expect_event(s, NSMON_NSID_EVENT_KIND_DEL_NSID, id);
    nsmon_nsid_free(s);
}

int main(void)
{
    snprintf(ns_a, sizeof ns_a, "nsmon-t-c-%d-a", (int)getpid());
    snprintf(ns_b, sizeof ns_b, "nsmon-t-c-%d-b", (int)getpid());
    atexit(cleanup);
    test_bad_input();
    test_subscriber_and_queries();
    printf("nsid_test: all checks passed\n");
    return 0;
}
