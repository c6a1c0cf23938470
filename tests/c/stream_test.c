/*
 * C test of the stream ABI, built through pkg-config against the installed libnsmon and run
 * under valgrind by scripts/test.sh. Needs root: it adds a real namespace (removed at exit).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nsmon.h>

#include "check.h"

static char ns[64];


static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", ns);
    if (system(cmd) != 0) { /* already gone */ }
}

static void ipn(const char *args)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ip -n %s %s", ns, args);
    CHECK(system(cmd) == 0);
}

/* Takes events until one of `kind` for key `key` arrives; returns it. */
static nsmon_stream_event expect(nsmon_stream *s, nsmon_stream_event_kind kind, const char *key)
{
    nsmon_stream_event ev;
    for (;;) {
        int rc = nsmon_stream_next(s, &ev);
        CHECK(rc >= 0);
        if (rc == 0) {
            CHECK(nsmon_stream_wait(s, 10000) == 1);
            continue;
        }
        if (ev.kind == kind && ev.key_len == strlen(key) && memcmp(ev.key, key, ev.key_len) == 0)
            return ev;
    }
}

static void test_bad_input(void)
{
    nsmon_stream *s = (nsmon_stream *)0x1;
    nsmon_stream_options *o;
    nsmon_stream_event ev;

    CHECK(nsmon_stream_new(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_options_new(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_options_set_groups(NULL, NSMON_GROUP_ALL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_options_set_dump(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_options_set_resync_on_overrun(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_options_set_receive_buffer(NULL, 1) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add(NULL, "k", NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add_all_nsid(NULL, "k", NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add_many(NULL, NULL, NULL, 0, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_remove(NULL, "k") == NSMON_ERR_NULL);
    CHECK(nsmon_stream_contains(NULL, "k") == NSMON_ERR_NULL);
    CHECK(nsmon_stream_len(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_fd(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_next(NULL, &ev) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_dispatch(NULL, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_wait(NULL, 0) == NSMON_ERR_NULL);
    nsmon_stream_free(NULL);
    nsmon_stream_options_free(NULL);

    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, 1u << 20) == -EINVAL);
    nsmon_stream_options_free(o);

    CHECK(nsmon_stream_new(&s) == 0);
    CHECK(nsmon_stream_next(s, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add(s, NULL, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add(s, "\xff", NULL, NULL) == NSMON_ERR_UTF8);
    CHECK(nsmon_stream_add_all_nsid(s, NULL, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add_all_nsid(s, "\xff", NULL, NULL) == NSMON_ERR_UTF8);
    nsmon_netns_ref bad = { .kind = NSMON_NETNS_NAME, .str = "../x" };
    CHECK(nsmon_stream_add(s, "k", &bad, NULL) == -EINVAL);
    bad.kind = NSMON_NETNS_PATH;
    bad.str = "/etc/hostname";
    CHECK(nsmon_stream_add(s, "k", &bad, NULL) == -EINVAL);
    CHECK(nsmon_stream_len(s) == 0);
    CHECK(nsmon_stream_add(s, "here", NULL, NULL) == 0);
    CHECK(nsmon_stream_add(s, "here", NULL, NULL) == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "already") != NULL);
    CHECK(nsmon_stream_len(s) == 1);
    CHECK(nsmon_stream_add_all_nsid(s, "here", NULL, NULL) == -EINVAL);

    /* add_many: NULL arrays refused with nothing changed; each entry fails or succeeds alone. */
    int results[5];
    CHECK(nsmon_stream_add_many(s, NULL, NULL, 1, NULL, results) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_add_many(s, NULL, NULL, 0, NULL, NULL) == 0);
    const char *keys[5] = { "one", NULL, "\xff", "here", "two" };
    nsmon_netns_ref targets[5] = {
        { .kind = NSMON_NETNS_CURRENT },
        { .kind = NSMON_NETNS_CURRENT },
        { .kind = NSMON_NETNS_CURRENT },
        { .kind = NSMON_NETNS_CURRENT },
        { .kind = NSMON_NETNS_PID, .num = (int)getpid() },
    };
    CHECK(nsmon_stream_add_many(s, keys, targets, 5, NULL, results) == 2);
    CHECK(results[0] == 0 && results[4] == 0);
    CHECK(results[1] == NSMON_ERR_NULL && results[2] == NSMON_ERR_UTF8 && results[3] == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "NULL") != NULL);
    CHECK(nsmon_stream_contains(s, "one") == 1 && nsmon_stream_contains(s, "two") == 1);
    CHECK(nsmon_stream_remove(s, "one") == 1 && nsmon_stream_remove(s, "two") == 1);
    nsmon_netns_ref bad_pid = { .kind = NSMON_NETNS_PID, .num = -3 };
    CHECK(nsmon_stream_add_all_nsid(s, "all", &bad_pid, NULL) == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "observer") != NULL);
    CHECK(nsmon_stream_len(s) == 1);
    nsmon_stream_free(s);
}

static int count_cb(void *userdata, const nsmon_stream_event *ev)
{
    int *n = userdata;
    if (ev->kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE && ev->route.dst_len == 32)
        (*n)++;
    return 0;
}

struct free_ctx {
    nsmon_stream *s;
    int calls;
};

static int free_cb(void *userdata, const nsmon_stream_event *ev)
{
    struct free_ctx *ctx = userdata;
    (void)ev;
    ctx->calls++;
    nsmon_stream_free(ctx->s);
    return 0;
}

static void test_real_namespace(void)
{
    nsmon_stream *s;
    nsmon_stream_options *o;
    char cmd[128];

    snprintf(ns, sizeof ns, "nsmon-t-c-%d-s", (int)getpid());
    snprintf(cmd, sizeof cmd, "ip netns add %s", ns);
    CHECK(system(cmd) == 0);

    CHECK(nsmon_stream_new(&s) == 0);
    CHECK(nsmon_stream_fd(s) >= 0);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_dump(o, true) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_LINK | NSMON_GROUP_IPV4_ROUTE) == 0);
    nsmon_netns_ref target = { .kind = NSMON_NETNS_NAME, .str = ns };
    CHECK(nsmon_stream_add(s, "blue", &target, o) == 0);
    nsmon_stream_options_free(o);
    CHECK(nsmon_stream_contains(s, "blue") == 1);
    CHECK(nsmon_stream_contains(s, "red") == 0);

    nsmon_stream_event ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_LINK, "blue");
    CHECK(strcmp(ev.link.name, "lo") == 0 && ev.link.index == 1);
    CHECK(ev.raw != NULL && ev.raw_len > 16);
    expect(s, NSMON_STREAM_EVENT_KIND_SYNCED, "blue");

    ipn("link set lo up");
    ipn("route add 203.0.113.0/24 dev lo table 100");
    ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    while (ev.route.table != 100)
        ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    unsigned char want[4];
    CHECK(inet_pton(AF_INET, "203.0.113.0", want) == 1);
    CHECK(ev.route.dst.family == AF_INET && memcmp(ev.route.dst.bytes, want, 4) == 0);
    CHECK(ev.route.dst_len == 24 && ev.route.oif == 1 && ev.route.route_type == 1);

    /* dispatch */
    ipn("route add 203.0.113.9/32 dev lo");
    int n = 0;
    while (n == 0) {
        CHECK(nsmon_stream_wait(s, 10000) == 1);
        CHECK(nsmon_stream_dispatch(s, count_cb, &n) >= 0);
    }
    CHECK(n == 1);

    CHECK(nsmon_stream_remove(s, "blue") == 1);
    CHECK(nsmon_stream_remove(s, "blue") == 0);
    CHECK(nsmon_stream_len(s) == 0);

    /* All-nsid: the namespace is heard through the caller's own namespace once it has an id,
     * tagged with its id, and with the key it was added under (here with no group of its own). */
    snprintf(cmd, sizeof cmd, "ip netns set %s auto", ns);
    CHECK(system(cmd) == 0);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, 0) == 0);
    CHECK(nsmon_stream_add(s, "blue", &target, o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_IPV4_ROUTE) == 0);
    CHECK(nsmon_stream_add_all_nsid(s, "all", NULL, o) == 0);
    nsmon_stream_options_free(o);
    ipn("route add 203.0.113.12/32 dev lo");
    ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    CHECK(ev.nsid >= 0);
    CHECK(nsmon_stream_remove(s, "all") == 1);
    CHECK(nsmon_stream_remove(s, "blue") == 1);

    /* A callback may free its own stream. */
    CHECK(nsmon_stream_add(s, "blue", &target, NULL) == 0);
    ipn("route add 203.0.113.10/32 dev lo");
    ipn("route add 203.0.113.11/32 dev lo");
    CHECK(nsmon_stream_wait(s, 10000) == 1);
    struct free_ctx ctx = { s, 0 };
    CHECK(nsmon_stream_dispatch(s, free_cb, &ctx) == 1);
    CHECK(ctx.calls == 1);
}

int main(void)
{
    atexit(cleanup);
    test_bad_input();
    test_real_namespace();
    printf("stream_test: all checks passed\n");
    return 0;
}
