/*
 * C test of the stream ABI, built through pkg-config against the installed libnsmon and run
 * under valgrind by scripts/test.sh. Needs root: it adds real namespaces, nsmon-t-<pid>-<tag>,
 * removed at exit, also when a check fails; a guardian process removes them should the test
 * die otherwise (a signal, a sanitizer's report). Run it from the repository's root (for
 * tests/fixtures/hostile.sh). Outside CI a run without root skips loudly; under CI=true
 * nothing skips.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nsmon.h>

#include "check.h"

#define HOSTILE "tests/fixtures/hostile.sh"

/* The namespaces made, in memory shared with the guardian. */
static struct {
    int count;
    char names[4][64];
} *made;

static void cleanup(void)
{
    char cmd[128];
    for (int i = 0; i < made->count; i++) {
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", made->names[i]);
        if (system(cmd) != 0) { /* already gone */ }
    }
    made->count = 0;
}

/* Forks the guardian before anything else runs: it waits until this process has ended (its
 * end of the pipe closes with it, however it ends), then deletes what the atexit cleanup did
 * not. Signals for the process group do not stop it. */
static void start_guardian(void)
{
    made = mmap(NULL, sizeof *made, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(made != MAP_FAILED);
    int ends[2];
    CHECK(pipe2(ends, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char byte;
        close(ends[1]);
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        while (read(ends[0], &byte, 1) < 0 && errno == EINTR) { /* until EOF */ }
        cleanup();
        _exit(0);
    }
    close(ends[0]); /* ends[1] stays open, close-on-exec, as long as this process lives */
    atexit(cleanup);
}

/* Under CI (CI set to anything but "", "0" or "false"), a test that cannot run must fail. */
static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && *ci && strcmp(ci, "0") != 0 && strcmp(ci, "false") != 0;
}

/* Reports that a test cannot run: fails under CI, else prints a loud SKIPPED line. */
static void skip(const char *test, const char *why)
{
    if (in_ci()) {
        fprintf(stderr, "%s: cannot run (%s), and CI forbids skipping it\n", test, why);
        exit(1);
    }
    fprintf(stderr, "SKIPPED: %s: %s\n", test, why);
}

/* Adds a namespace nsmon-t-<pid>-<tag>, deleted at exit. */
static const char *add_namespace(const char *tag)
{
    char cmd[128];
    CHECK(made->count < (int)(sizeof made->names / sizeof made->names[0]));
    char *name = made->names[made->count];
    snprintf(name, sizeof made->names[0], "nsmon-t-%d-%s", (int)getpid(), tag);
    snprintf(cmd, sizeof cmd, "ip netns add %s", name);
    made->count++; /* first: an `ip` that fails half way still gets its cleanup */
    CHECK(system(cmd) == 0);
    return name;
}

/* Runs `ip -n NS ARGS...` (printf-style) and checks that it succeeded. */
static void ipn(const char *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ipn(const char *ns, const char *fmt, ...)
{
    char cmd[512], args[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "ip -n %s %s", ns, args);
    CHECK(system(cmd) == 0);
}

/* Prints bytes with what is not printable ASCII (and the backslash) as \xNN. */
static void print_bytes(const void *bytes, size_t len)
{
    const unsigned char *b = bytes;
    for (size_t i = 0; i < len; i++) {
        if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\\')
            fputc(b[i], stderr);
        else
            fprintf(stderr, "\\x%02x", b[i]);
    }
}

/* A fixed-size name field holds `len` bytes without a NUL among them, then a NUL. */
static bool holds(const char *field, size_t size, size_t len)
{
    return len < size && memchr(field, '\0', len) == NULL && field[len] == '\0';
}

/* What every event promises whatever its kind: the members of other kinds are absent. */
static void check_event(const nsmon_stream_event *ev)
{
    nsmon_stream_event_kind k = ev->kind;
    bool has_reason = k == NSMON_STREAM_EVENT_KIND_ERROR || k == NSMON_STREAM_EVENT_KIND_UNPARSED
                      || k == NSMON_STREAM_EVENT_KIND_SYNC_FAILED;
    bool no_raw = k == NSMON_STREAM_EVENT_KIND_SYNCED || k == NSMON_STREAM_EVENT_KIND_SYNC_FAILED
                  || k == NSMON_STREAM_EVENT_KIND_OVERRUN || k == NSMON_STREAM_EVENT_KIND_ERROR;
    CHECK(k >= NSMON_STREAM_EVENT_KIND_NEW_LINK && k <= NSMON_STREAM_EVENT_KIND_SYNC_FAILED);
    CHECK(ev->key != NULL && ev->key_len > 0);
    CHECK(has_reason == (ev->reason != NULL));
    CHECK(k == NSMON_STREAM_EVENT_KIND_OVERRUN ? ev->lost >= -1 : ev->lost == 0);
    if (no_raw)
        CHECK(ev->raw == NULL && ev->raw_len == 0);
    else if (k != NSMON_STREAM_EVENT_KIND_UNPARSED)
        CHECK(ev->raw != NULL && ev->raw_len >= 16);
    bool link = k == NSMON_STREAM_EVENT_KIND_NEW_LINK || k == NSMON_STREAM_EVENT_KIND_DEL_LINK;
    CHECK(holds(ev->link.name, sizeof ev->link.name, ev->link.name_len));
    CHECK(holds(ev->link.kind, sizeof ev->link.kind, ev->link.kind_len));
    CHECK(holds(ev->addr.label, sizeof ev->addr.label, ev->addr.label_len));
    CHECK(holds(ev->tc.kind, sizeof ev->tc.kind, ev->tc.kind_len));
    if (link)
        CHECK(ev->link.family == AF_UNSPEC || ev->link.family == AF_BRIDGE);
    else
        CHECK(ev->link.family == 0 && ev->link.name_len == 0 && ev->link.alt_names_count == 0);
    if (ev->link.alt_names_count > 0) {
        CHECK(ev->link.alt_names != NULL);
        for (size_t i = 0; i < ev->link.alt_names_count; i++)
            CHECK(ev->link.alt_names[i].bytes != NULL && ev->link.alt_names[i].len > 0);
    }
}

/* Takes the next event, waiting up to 10 s for one; checks what every event promises. */
static nsmon_stream_event next_event(nsmon_stream *s)
{
    nsmon_stream_event ev;
    int rc;
    while ((rc = nsmon_stream_next(s, &ev)) == 0)
        CHECK(nsmon_stream_wait(s, 10000) == 1);
    CHECK(rc == 1);
    check_event(&ev);
    if (ev.kind == NSMON_STREAM_EVENT_KIND_ERROR)
        fprintf(stderr, "ERROR event for %.*s: %s\n", (int)ev.key_len, ev.key, ev.reason);
    return ev;
}

/* Takes events until one of `kind` for key `key` arrives; returns it. */
static nsmon_stream_event expect(nsmon_stream *s, nsmon_stream_event_kind kind, const char *key)
{
    for (;;) {
        nsmon_stream_event ev = next_event(s);
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
    CHECK(nsmon_stream_new_coalescing(1000, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_stream_new_coalescing(0, &s) == -EINVAL && s == (nsmon_stream *)0x1);
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
    bad.str = "/run/nsmon-t-no-such-\xff"; /* paths are bytes: missing, not badly encoded */
    CHECK(nsmon_stream_add(s, "k", &bad, NULL) == -ENOENT);
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
    const char *ns = add_namespace("s");

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
    /* One identity: the stream's target and the namespace named again are the same one. */
    nsmon_netns_id by_stream, by_name, own;
    CHECK(nsmon_stream_identity(s, "blue", &by_stream) == 1);
    CHECK(nsmon_netns_identify(&target, &by_name) == 0);
    CHECK(nsmon_netns_identify(NULL, &own) == 0);
    CHECK(by_name.has_id && by_name.ino != 0);
    CHECK(by_stream.id == by_name.id && by_stream.dev == by_name.dev && by_stream.ino == by_name.ino);
    CHECK(own.id != by_name.id && own.ino != by_name.ino);

    nsmon_stream_event ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_LINK, "blue");
    CHECK(strcmp(ev.link.name, "lo") == 0 && ev.link.name_len == 2 && ev.link.index == 1);
    CHECK(ev.raw != NULL && ev.raw_len > 16);
    expect(s, NSMON_STREAM_EVENT_KIND_SYNCED, "blue");

    ipn(ns, "link set lo up");
    ipn(ns, "route add 203.0.113.0/24 dev lo table 100");
    ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    while (ev.route.table != 100)
        ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    unsigned char want[4];
    CHECK(inet_pton(AF_INET, "203.0.113.0", want) == 1);
    CHECK(ev.route.dst.family == AF_INET && memcmp(ev.route.dst.bytes, want, 4) == 0);
    CHECK(ev.route.dst_len == 24 && ev.route.oif == 1 && ev.route.route_type == 1);

    /* dispatch */
    ipn(ns, "route add 203.0.113.9/32 dev lo");
    int n = 0;
    while (n == 0) {
        CHECK(nsmon_stream_wait(s, 10000) == 1);
        CHECK(nsmon_stream_dispatch(s, count_cb, &n) >= 0);
    }
    CHECK(n == 1);

    /* A batch: twenty routes, taken eight at a time; every event of a batch stays valid until
     * the next call, so they are checked only once the whole batch is in. */
    for (int i = 0; i < 20; i++)
        ipn(ns, "route add 198.51.100.%d/32 dev lo", 100 + i);
    nsmon_stream_event batch[8];
    int routes = 0, batches = 0;
    while (routes < 20) {
        int got = nsmon_stream_next_batch(s, batch, 8);
        CHECK(got >= 0 && got <= 8);
        if (got == 0) {
            CHECK(nsmon_stream_wait(s, 10000) == 1);
            continue;
        }
        batches++;
        for (int i = 0; i < got; i++) {
            check_event(&batch[i]);
            CHECK(batch[i].key_len == 4 && memcmp(batch[i].key, "blue", 4) == 0);
            if (batch[i].kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE && batch[i].route.dst_len == 32 &&
                batch[i].route.table == 254) {
                CHECK(batch[i].route.dst.bytes[3] == 100 + routes);
                CHECK(i == 0 || batch[i].raw != batch[i - 1].raw);
                routes++;
            }
        }
    }
    CHECK(batches >= 3); /* twenty routes cannot fit in fewer batches of eight */
    CHECK(nsmon_stream_next_batch(s, batch, 8) == 0);

    /* A batch holding messages and a whole event together (a dump's links and its SYNCED):
     * each stays valid, key and all, until the next call. */
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_dump(o, true) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_LINK) == 0);
    CHECK(nsmon_stream_add(s, "green", &target, o) == 0);
    nsmon_stream_options_free(o);
    bool synced = false, mixed = false;
    while (!synced) {
        int got = nsmon_stream_next_batch(s, batch, 8);
        CHECK(got >= 0 && got <= 8);
        if (got == 0) {
            CHECK(nsmon_stream_wait(s, 10000) == 1);
            continue;
        }
        bool messages = false, whole = false;
        for (int i = 0; i < got; i++) {
            check_event(&batch[i]);
            bool green = batch[i].key_len == 5 && memcmp(batch[i].key, "green", 5) == 0;
            bool blue = batch[i].key_len == 4 && memcmp(batch[i].key, "blue", 4) == 0;
            CHECK(green || blue);
            messages |= batch[i].raw != NULL;
            whole |= batch[i].kind == NSMON_STREAM_EVENT_KIND_SYNCED;
            synced |= green && batch[i].kind == NSMON_STREAM_EVENT_KIND_SYNCED;
        }
        mixed |= messages && whole;
    }
    CHECK(mixed);
    CHECK(nsmon_stream_remove(s, "green") == 1);

    /* Messages queued when their key is removed are still delivered, made whole (their bytes
     * copied out of the arena): in a batch, those bytes stay valid until the next call too. */
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_IPV4_ROUTE) == 0);
    CHECK(nsmon_stream_add(s, "amber", &target, o) == 0);
    nsmon_stream_options_free(o);
    while (nsmon_stream_next_batch(s, batch, 8) > 0) /* blue's, from the dump above */
        ;
    for (int i = 0; i < 12; i++)
        ipn(ns, "route add 198.51.100.%d/32 dev lo table 300", 10 + i);
    int first;
    while ((first = nsmon_stream_next_batch(s, batch, 1)) == 0) /* reads ahead: more queued */
        CHECK(nsmon_stream_wait(s, 10000) == 1);
    CHECK(first == 1);
    CHECK(nsmon_stream_remove(s, "amber") == 1);
    int whole_routes = 0, got;
    while ((got = nsmon_stream_next_batch(s, batch, 8)) > 0) {
        for (int i = 0; i < got; i++) {
            check_event(&batch[i]);
            if (batch[i].key_len != 5 || memcmp(batch[i].key, "amber", 5) != 0)
                continue;
            CHECK(batch[i].kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE);
            uint32_t len;
            uint16_t type;
            memcpy(&len, batch[i].raw, 4);
            memcpy(&type, (const unsigned char *)batch[i].raw + 4, 2);
            CHECK(len == batch[i].raw_len && type == 24 /* RTM_NEWROUTE */);
            whole_routes++;
        }
    }
    CHECK(got == 0 && whole_routes > 0);

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
    ipn(ns, "route add 203.0.113.12/32 dev lo");
    ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_ROUTE, "blue");
    CHECK(ev.nsid >= 0);
    CHECK(nsmon_stream_remove(s, "all") == 1);
    CHECK(nsmon_stream_remove(s, "blue") == 1);

    /* A callback may free its own stream. */
    CHECK(nsmon_stream_add(s, "blue", &target, NULL) == 0);
    ipn(ns, "route add 203.0.113.10/32 dev lo");
    ipn(ns, "route add 203.0.113.11/32 dev lo");
    CHECK(nsmon_stream_wait(s, 10000) == 1);
    struct free_ctx ctx = { s, 0 };
    CHECK(nsmon_stream_dispatch(s, free_cb, &ctx) == 1);
    CHECK(ctx.calls == 1);
}

/* One line of the fixture's output, newline removed: `len` bytes at `bytes`. */
struct line {
    unsigned char *bytes;
    size_t len;
};

/* Runs `tests/fixtures/hostile.sh ARGS` and returns its lines (`*count` of them); with `hex`,
 * each line is hex and decoded to its bytes. */
static struct line *fixture(const char *args, bool hex, size_t *count)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s %s", HOSTILE, args);
    FILE *out = popen(cmd, "r");
    CHECK(out != NULL);
    struct line *lines = NULL;
    size_t n = 0, cap = 0, size = 0;
    char *text = NULL;
    ssize_t got;
    while ((got = getline(&text, &size, out)) > 0) {
        if (text[got - 1] == '\n')
            text[--got] = '\0';
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            lines = realloc(lines, cap * sizeof *lines);
            CHECK(lines != NULL);
        }
        struct line *l = &lines[n++];
        l->bytes = malloc((size_t)got + 1);
        CHECK(l->bytes != NULL);
        if (hex) {
            CHECK(got % 2 == 0);
            for (l->len = 0; l->len < (size_t)got / 2; l->len++) {
                unsigned byte;
                CHECK(sscanf(text + 2 * l->len, "%2x", &byte) == 1);
                l->bytes[l->len] = (unsigned char)byte;
            }
        } else {
            memcpy(l->bytes, text, (size_t)got + 1); /* with its NUL, to print it */
            l->len = (size_t)got;
        }
    }
    free(text);
    int status = pclose(out);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(n > 0);
    *count = n;
    return lines;
}

static void free_lines(struct line *lines, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(lines[i].bytes);
    free(lines);
}

static bool same(const void *a, size_t a_len, const void *b, size_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

/* Finds nsmon-after's new alternative name; stops at the first event that is not about it. */
static int after_alt_cb(void *userdata, const nsmon_stream_event *ev)
{
    int *found = userdata;
    check_event(ev);
    CHECK(ev->kind == NSMON_STREAM_EVENT_KIND_NEW_LINK);
    if (ev->link.family == AF_UNSPEC && same(ev->link.name, ev->link.name_len, "nsmon-after", 11)
        && ev->link.alt_names_count == 1
        && same(ev->link.alt_names[0].bytes, ev->link.alt_names[0].len, "nsmon-after-\xff", 13))
        *found = 1;
    return 0;
}

/* The fixture's hostile objects (names of invalid UTF-8, control bytes, quotes, 15 bytes
 * >= 0x80; a label of invalid UTF-8; a link with 490 alternative names of 127 bytes, whose
 * message is over 64 KiB) are all in the dump, byte for byte, then SYNCED; nothing of them
 * ends the namespace's monitoring. */
static void test_hostile_names(void)
{
    if (access(HOSTILE, X_OK) != 0) {
        skip("hostile names", HOSTILE " not found: run from the repository's root");
        return;
    }
    size_t n_names, n_labels, n_alt;
    struct line *names = fixture("names", true, &n_names);
    struct line *label = fixture("label", true, &n_labels);
    struct line *alt = fixture("altnames", false, &n_alt);
    CHECK(n_labels == 1 && n_alt == 490);

    const char *ns = add_namespace("hostile");
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s create %s", HOSTILE, ns);
    CHECK(system(cmd) == 0);

    nsmon_stream *s;
    nsmon_stream_options *o;
    CHECK(nsmon_stream_new(&s) == 0);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_dump(o, true) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_LINK | NSMON_GROUP_IPV4_ADDR) == 0);
    nsmon_netns_ref target = { .kind = NSMON_NETNS_NAME, .str = ns };
    CHECK(nsmon_stream_add(s, "hostile", &target, o) == 0);
    nsmon_stream_options_free(o);

    int seen[16] = { 0 };
    CHECK(n_names <= sizeof seen / sizeof seen[0]);
    int many = 0, labels = 0, links = 0;
    unsigned char lbl_addr[4];
    CHECK(inet_pton(AF_INET, "198.51.100.1", lbl_addr) == 1);
    for (;;) {
        nsmon_stream_event ev = next_event(s);
        CHECK(ev.key_len == 7 && memcmp(ev.key, "hostile", 7) == 0);
        if (ev.reason)
            fprintf(stderr, "hostile: event %u: %s\n", (unsigned)ev.kind, ev.reason);
        /* Nothing may be lost, left untyped or end the namespace; the dump must complete. */
        CHECK(ev.kind != NSMON_STREAM_EVENT_KIND_ERROR);
        CHECK(ev.kind != NSMON_STREAM_EVENT_KIND_UNPARSED);
        CHECK(ev.kind != NSMON_STREAM_EVENT_KIND_OVERRUN);
        CHECK(ev.kind != NSMON_STREAM_EVENT_KIND_SYNC_FAILED);
        if (ev.kind == NSMON_STREAM_EVENT_KIND_SYNCED)
            break;
        if (ev.kind == NSMON_STREAM_EVENT_KIND_NEW_ADDR && ev.addr.addr.family == AF_INET
            && memcmp(ev.addr.addr.bytes, lbl_addr, 4) == 0) {
            if (!same(ev.addr.label, ev.addr.label_len, label[0].bytes, label[0].len)) {
                fprintf(stderr, "label reported as '");
                print_bytes(ev.addr.label, ev.addr.label_len);
                fprintf(stderr, "', want '");
                print_bytes(label[0].bytes, label[0].len);
                fprintf(stderr, "'\n");
            }
            CHECK(same(ev.addr.label, ev.addr.label_len, label[0].bytes, label[0].len));
            labels++;
        }
        if (ev.kind != NSMON_STREAM_EVENT_KIND_NEW_LINK)
            continue;
        CHECK(ev.link.family == AF_UNSPEC); /* a dump lists the links themselves */
        links++;
        size_t i;
        for (i = 0; i < n_names; i++)
            if (same(ev.link.name, ev.link.name_len, names[i].bytes, names[i].len))
                break;
        if (i == n_names) { /* not the fixture's: lo only */
            if (!same(ev.link.name, ev.link.name_len, "lo", 2)) {
                fprintf(stderr, "unexpected link '");
                print_bytes(ev.link.name, ev.link.name_len);
                fprintf(stderr, "'\n");
            }
            CHECK(same(ev.link.name, ev.link.name_len, "lo", 2));
            continue;
        }
        seen[i]++;
        if (!same(ev.link.name, ev.link.name_len, "nsmon-many", 10)) {
            CHECK(ev.link.alt_names_count == 0);
            continue;
        }
        /* Every alternative name exactly once, byte for byte, in a message over 64 KiB. */
        many++;
        CHECK(ev.raw_len > 65536);
        CHECK(ev.link.alt_names_count == 490);
        for (size_t j = 0; j < n_alt; j++) {
            size_t found = 0;
            for (size_t k = 0; k < ev.link.alt_names_count; k++)
                found += same(ev.link.alt_names[k].bytes, ev.link.alt_names[k].len, alt[j].bytes,
                              alt[j].len);
            if (found != 1)
                fprintf(stderr, "alternative name %s reported %zu times\n",
                        (const char *)alt[j].bytes, found);
            CHECK(found == 1);
        }
    }
    for (size_t i = 0; i < n_names; i++) {
        if (seen[i] != 1) {
            fprintf(stderr, "link '");
            print_bytes(names[i].bytes, names[i].len);
            fprintf(stderr, "' reported %d times by the dump\n", seen[i]);
        }
        CHECK(seen[i] == 1);
    }
    CHECK(many == 1 && labels == 1 && links == (int)n_names + 1);

    /* The namespace is still monitored. */
    CHECK(nsmon_stream_contains(s, "hostile") == 1);
    ipn(ns, "link add nsmon-after type bridge");
    nsmon_stream_event ev;
    do {
        ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_LINK, "hostile");
    } while (ev.link.family != AF_UNSPEC
             || !same(ev.link.name, ev.link.name_len, "nsmon-after", 11));
    CHECK(strcmp(ev.link.name, "nsmon-after") == 0 && ev.link.kind_len == 6
          && strcmp(ev.link.kind, "bridge") == 0);
    uint32_t after = ev.link.index;

    /* Through dispatch too, alternative names (here not UTF-8) are right during the callback.
     * (The kernel sends nothing for a new alternative name: the MTU change is what reports it.) */
    ipn(ns, "link property add dev nsmon-after altname \"$(printf 'nsmon-after-\\377')\"");
    ipn(ns, "link set dev nsmon-after mtu 1400");
    int found = 0;
    while (!found) {
        CHECK(nsmon_stream_wait(s, 10000) == 1);
        CHECK(nsmon_stream_dispatch(s, after_alt_cb, &found) >= 0);
    }
    CHECK(found == 1);

    /* A bridge's notice about a port says AF_BRIDGE (the links themselves: AF_UNSPEC). */
    ipn(ns, "link add nsmon-v0 type veth peer name nsmon-v1");
    ipn(ns, "link set dev nsmon-v0 master nsmon-after");
    do {
        ev = expect(s, NSMON_STREAM_EVENT_KIND_NEW_LINK, "hostile");
    } while (ev.link.family != AF_BRIDGE);
    CHECK(strcmp(ev.link.name, "nsmon-v0") == 0 && ev.link.master == after);
    nsmon_stream_free(s);
    free_lines(names, n_names);
    free_lines(label, n_labels);
    free_lines(alt, n_alt);
}

#define LOSS_TABLES 8
#define LOSS_PER_TABLE 250
#define LOSS_FIRST_TABLE 1000

/* Loss is counted exactly: with a 4 KiB receive buffer and N route notifications queued
 * unread, the route events read plus the `lost` of the OVERRUN events make N. */
static void test_exact_loss(void)
{
    const int n = LOSS_TABLES * LOSS_PER_TABLE;
    const char *ns = add_namespace("loss");
    ipn(ns, "link add nsmon-br type bridge");
    ipn(ns, "addr add 198.51.100.1/24 dev nsmon-br");
    ipn(ns, "link set nsmon-br up");

    nsmon_stream *s;
    nsmon_stream_options *o;
    CHECK(nsmon_stream_new(&s) == 0);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_IPV4_ROUTE) == 0);
    CHECK(nsmon_stream_options_set_receive_buffer(o, 4096) == 0);
    nsmon_netns_ref target = { .kind = NSMON_NETNS_NAME, .str = ns };
    CHECK(nsmon_stream_add(s, "loss", &target, o) == 0);
    nsmon_stream_options_free(o);

    /* The burst, with nothing read meanwhile: `ip` waits for each route's ack. */
    char cmd[128];
    snprintf(cmd, sizeof cmd, "ip -n %s -batch -", ns);
    FILE *ip = popen(cmd, "w");
    CHECK(ip != NULL);
    for (int t = 0; t < LOSS_TABLES; t++)
        for (int k = 1; k <= LOSS_PER_TABLE; k++)
            fprintf(ip, "route add 203.0.113.%d/32 dev nsmon-br table %d\n", k,
                    LOSS_FIRST_TABLE + t);
    int status = pclose(ip);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Everything, until nothing arrives for 500 ms. */
    static bool got[LOSS_TABLES][LOSS_PER_TABLE + 1];
    unsigned char net[4];
    CHECK(inet_pton(AF_INET, "203.0.113.0", net) == 1);
    long routes = 0, overruns = 0, unknown = 0;
    int64_t lost = 0;
    for (;;) {
        nsmon_stream_event ev;
        int rc = nsmon_stream_next(s, &ev);
        CHECK(rc >= 0);
        if (rc == 0) {
            rc = nsmon_stream_wait(s, 500);
            CHECK(rc >= 0);
            if (rc == 0)
                break;
            continue;
        }
        check_event(&ev);
        CHECK(ev.key_len == 4 && memcmp(ev.key, "loss", 4) == 0);
        if (ev.reason)
            fprintf(stderr, "loss: event %u: %s\n", (unsigned)ev.kind, ev.reason);
        if (ev.kind == NSMON_STREAM_EVENT_KIND_OVERRUN) {
            overruns++;
            if (ev.lost < 0)
                unknown++;
            else
                lost += ev.lost;
            continue;
        }
        /* Only the burst's routes, each once. */
        CHECK(ev.kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE);
        CHECK(ev.route.dst.family == AF_INET && ev.route.dst_len == 32);
        CHECK(memcmp(ev.route.dst.bytes, net, 3) == 0);
        unsigned k = ev.route.dst.bytes[3], t = ev.route.table - LOSS_FIRST_TABLE;
        CHECK(ev.route.table >= LOSS_FIRST_TABLE && t < LOSS_TABLES);
        CHECK(k >= 1 && k <= LOSS_PER_TABLE && !got[t][k]);
        got[t][k] = true;
        routes++;
    }
    nsmon_stream_free(s);
    printf("exact loss: %d routes added, %ld read, %lld lost in %ld overrun(s)\n", n, routes,
           (long long)lost, overruns);
    CHECK(overruns >= 1);
    if (unknown > 0) {
        skip("exact loss", "the kernel does not count drops (SO_MEMINFO, Linux 4.12+)");
        return;
    }
    CHECK(routes + lost == n);
}

/* Whether the stream's fd is readable now. */
static bool readable_now(nsmon_stream *s)
{
    struct pollfd p = { .fd = nsmon_stream_fd(s), .events = POLLIN };
    int n = poll(&p, 1, 0);
    CHECK(n >= 0);
    return n == 1;
}

/* A one-second window: a route added after the first event was taken waits for the window's
 * end (checked right after `ip` returns: the kernel queues the notification before that), then
 * one wake-up brings every route added meanwhile. */
static void test_coalescing(void)
{
    nsmon_stream *s;
    nsmon_stream_options *o;
    nsmon_stream_event ev;
    const char *ns = add_namespace("co");

    CHECK(nsmon_stream_new_coalescing(1000000, &s) == 0);
    CHECK(nsmon_stream_options_new(&o) == 0);
    CHECK(nsmon_stream_options_set_groups(o, NSMON_GROUP_IPV4_ROUTE) == 0);
    nsmon_netns_ref target = { .kind = NSMON_NETNS_NAME, .str = ns };
    CHECK(nsmon_stream_add(s, "co", &target, o) == 0);
    nsmon_stream_options_free(o);
    ipn(ns, "link set lo up");
    ipn(ns, "route add 198.51.100.1/32 dev lo");
    CHECK(readable_now(s));
    while (nsmon_stream_next(s, &ev) == 1) {}
    ipn(ns, "route add 198.51.100.2/32 dev lo");
    ipn(ns, "route add 198.51.100.3/32 dev lo");
    CHECK(!readable_now(s));
    CHECK(nsmon_stream_next(s, &ev) == 0);
    CHECK(nsmon_stream_wait(s, 10000) == 1);
    int routes = 0;
    while (nsmon_stream_next(s, &ev) == 1)
        routes += ev.kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE && ev.route.dst_len == 32;
    CHECK(routes == 2);
    nsmon_stream_free(s);
}

int main(void)
{
    start_guardian();
    if (geteuid() != 0) {
        skip("stream_test", "it needs root (namespaces, setns)");
        return 0;
    }
    test_bad_input();
    test_real_namespace();
    test_hostile_names();
    test_exact_loss();
    test_coalescing();
    printf("stream_test: all checks passed\n");
    return 0;
}
