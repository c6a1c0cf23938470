/*
 * C test of the watcher's ABI, built through pkg-config against the installed libnsmon and run
 * under valgrind by scripts/test.sh. Needs root (it adds a real namespace). Exits non-zero on
 * the first failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nsmon.h>

#include "check.h"

static char tmpdir[] = "/tmp/nsmon-t-c-XXXXXX";
static char nsname[64];


static void cleanup(void)
{
    char cmd[256];
    if (nsname[0]) {
        snprintf(cmd, sizeof cmd, "ip netns del %s 2>/dev/null", nsname);
        if (system(cmd) != 0) { /* already gone */ }
    }
    snprintf(cmd, sizeof cmd, "umount %s/second/sandbox 2>/dev/null", tmpdir);
    if (system(cmd) != 0) { /* not mounted */ }
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) { /* nothing to remove */ }
}

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
}

static void rm(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(unlink(path) == 0);
}

/* Waits for the next event and returns it. */
static nsmon_watcher_event next_event(nsmon_watcher *w)
{
    nsmon_watcher_event ev;
    int rc;
    while ((rc = nsmon_watcher_next(w, &ev)) == 0)
        CHECK(nsmon_watcher_wait(w, 10000) == 1);
    CHECK(rc == 1);
    return ev;
}

/* Waits for the next event about `name`, skipping other tests' namespaces. */
static nsmon_watcher_event next_event_about(nsmon_watcher *w, const char *name)
{
    nsmon_watcher_event ev;
    do
        ev = next_event(w);
    while (strcmp(ev.name, name) != 0);
    return ev;
}

static void expect(nsmon_watcher *w, nsmon_watcher_event_kind kind, const char *name)
{
    nsmon_watcher_event ev = next_event(w);
    CHECK(ev.kind == kind);
    CHECK(strcmp(ev.name, name) == 0);
    CHECK(ev.name_len == strlen(name));
}

static void test_bad_input(void)
{
    nsmon_watcher *w = (nsmon_watcher *)0x1;
    nsmon_watcher_options *o = NULL;
    nsmon_watcher_event ev;

    CHECK(nsmon_watcher_new(NULL, NULL) == NSMON_ERR_NULL);
    CHECK(strstr(nsmon_last_error(), "out") != NULL);
    CHECK(nsmon_watcher_options_new(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_options_set_dir(NULL, "/tmp") == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_options_set_list_existing(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_options_set_any_file(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_options_set_dir_events(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_fd(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_next(NULL, &ev) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_dispatch(NULL, NULL, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_wait(NULL, 0) == NSMON_ERR_NULL);
    nsmon_watcher_free(NULL);
    nsmon_watcher_options_free(NULL);

    CHECK(nsmon_watcher_options_new(&o) == 0 && o != NULL);
    CHECK(nsmon_watcher_options_set_dir(o, NULL) == NSMON_ERR_NULL);
    CHECK(strstr(nsmon_last_error(), "dir") != NULL);
    CHECK(nsmon_watcher_options_set_dir(o, "/tmp/\xff\xfe") == 0); /* a path: any bytes */
    CHECK(nsmon_watcher_options_set_dir(o, "") == -EINVAL);
    /* A failed set changed nothing; a path that is only "/" is refused at creation. */
    CHECK(nsmon_watcher_options_set_dir(o, "/") == 0);
    CHECK(nsmon_watcher_new(o, &w) == -EINVAL);
    CHECK(w == (nsmon_watcher *)0x1); /* out is written only on success */
    CHECK(strstr(nsmon_last_error(), "root") != NULL);
    nsmon_watcher_options_free(o);

    CHECK(nsmon_validate_name("blue") == 0);
    CHECK(nsmon_validate_name(NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_validate_name("a/b") == -EINVAL);
    CHECK(strstr(nsmon_last_error(), "'/'") != NULL);
    CHECK(nsmon_validate_name("..") == -EINVAL);
    CHECK(nsmon_validate_name(".") == -EINVAL);
    CHECK(nsmon_validate_name("") == -EINVAL);
    CHECK(nsmon_validate_name("bad\xff") == NSMON_ERR_UTF8);
    {
        char long_name[300];
        memset(long_name, 'n', sizeof long_name - 1);
        long_name[sizeof long_name - 1] = '\0';
        CHECK(nsmon_validate_name(long_name) == -EINVAL);
        long_name[255] = '\0';
        CHECK(nsmon_validate_name(long_name) == 0);
    }

    CHECK(strcmp(nsmon_strerror(NSMON_ERR_NULL), "a required pointer argument is NULL") == 0);
    CHECK(nsmon_strerror(NSMON_ERR_PANIC) != NULL);
    CHECK(nsmon_strerror(-ENOENT) != NULL && nsmon_strerror(-99999) != NULL);
    CHECK(nsmon_strerror(0) != NULL);
    CHECK(strlen(nsmon_version()) >= 5);
}

static int count_cb(void *userdata, const nsmon_watcher_event *ev)
{
    int *n = userdata;
    CHECK(ev->kind == NSMON_WATCHER_EVENT_KIND_CREATED);
    (*n)++;
    return 0;
}

struct reentry {
    nsmon_watcher *w;
    int next_rc, wait_rc, dispatch_rc, fd_rc, calls;
};

static int reenter_cb(void *userdata, const nsmon_watcher_event *ev)
{
    struct reentry *r = userdata;
    nsmon_watcher_event other;
    (void)ev;
    r->calls++;
    r->next_rc = nsmon_watcher_next(r->w, &other);
    r->wait_rc = nsmon_watcher_wait(r->w, 0);
    r->dispatch_rc = nsmon_watcher_dispatch(r->w, reenter_cb, r);
    r->fd_rc = nsmon_watcher_fd(r->w);
    return 1; /* stop after this one */
}

struct free_ctx {
    int calls;
    nsmon_watcher *w;
};

static int free_cb(void *userdata, const nsmon_watcher_event *ev)
{
    struct free_ctx *ctx = userdata;
    (void)ev;
    ctx->calls++;
    /* Frees its own watcher: deferred until dispatch returns. */
    nsmon_watcher_free(ctx->w);
    return 0;
}

static void test_plain_files(void)
{
    char dir[256];
    nsmon_watcher_options *o;
    nsmon_watcher *w;
    nsmon_watcher_event ev;

    snprintf(dir, sizeof dir, "%s/missing-\xff", tmpdir); /* a path that is not UTF-8 */
    CHECK(nsmon_watcher_options_new(&o) == 0);
    CHECK(nsmon_watcher_options_set_dir(o, dir) == 0);
    CHECK(nsmon_watcher_options_set_any_file(o, true) == 0);
    CHECK(nsmon_watcher_options_set_dir_events(o, true) == 0);
    CHECK(nsmon_watcher_new(o, &w) == 0);
    nsmon_watcher_options_free(o); /* the watcher keeps its own copy */

    int fd = nsmon_watcher_fd(w);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK(nsmon_watcher_next(w, &ev) == 0);
    CHECK(nsmon_watcher_wait(w, 20) == 0);

    /* The directory does not exist yet: its creation is seen, then its entries. */
    CHECK(mkdir(dir, 0700) == 0);
    touch(dir, "a");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event reg = { .events = EPOLLIN, .data.u64 = 1 }, got;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &reg) == 0);
    CHECK(epoll_wait(ep, &got, 1, 10000) == 1);
    close(ep);
    /* Every event names its folder, bytes and all; plain files have no namespace identity. */
    ev = next_event(w);
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_DIR_CREATED);
    CHECK(ev.dir != NULL && strcmp(ev.dir, dir) == 0 && ev.dir_len == strlen(dir));
    ev = next_event(w);
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_CREATED && strcmp(ev.name, "a") == 0);
    CHECK(ev.dir != NULL && strcmp(ev.dir, dir) == 0);
    CHECK(!ev.has_netns_id && ev.netns_id.ino == 0);
    CHECK(nsmon_watcher_next(w, &ev) == 0);

    /* dispatch delivers everything ready. */
    touch(dir, "b");
    touch(dir, "c");
    touch(dir, "d");
    int n = 0;
    while (n < 3) {
        CHECK(nsmon_watcher_wait(w, 10000) == 1);
        int rc = nsmon_watcher_dispatch(w, count_cb, &n);
        CHECK(rc >= 0);
    }
    CHECK(n == 3);
    CHECK(nsmon_watcher_dispatch(w, NULL, NULL) == NSMON_ERR_NULL);

    /* A callback re-entering its watcher gets -EBUSY; fd is allowed; the event it stopped
     * before stays queued. */
    touch(dir, "e");
    touch(dir, "f");
    CHECK(nsmon_watcher_wait(w, 10000) == 1);
    struct reentry r = { .w = w };
    CHECK(nsmon_watcher_dispatch(w, reenter_cb, &r) == 1);
    CHECK(r.calls == 1);
    CHECK(r.next_rc == -EBUSY && r.wait_rc == -EBUSY && r.dispatch_rc == -EBUSY);
    CHECK(r.fd_rc == fd);
    CHECK(strstr(nsmon_last_error(), "re-enter") != NULL);
    expect(w, NSMON_WATCHER_EVENT_KIND_CREATED, "f");

    rm(dir, "a");
    expect(w, NSMON_WATCHER_EVENT_KIND_DELETED, "a");

    /* A name is the file's bytes: invalid UTF-8, control bytes, quotes, all kept. */
    touch(dir, "nsmon-\xff\x01\"'\xc3");
    expect(w, NSMON_WATCHER_EVENT_KIND_CREATED, "nsmon-\xff\x01\"'\xc3");
    rm(dir, "nsmon-\xff\x01\"'\xc3");
    expect(w, NSMON_WATCHER_EVENT_KIND_DELETED, "nsmon-\xff\x01\"'\xc3");

    /* A callback may free its own watcher; dispatch stops and frees it on return. */
    touch(dir, "g");
    touch(dir, "h");
    CHECK(nsmon_watcher_wait(w, 10000) == 1);
    struct free_ctx ctx = { 0, w };
    CHECK(nsmon_watcher_dispatch(w, free_cb, &ctx) == 1);
    CHECK(ctx.calls == 1);
    /* w is gone now; valgrind proves it was freed exactly once. */
}

static void test_real_namespace(void)
{
    char cmd[128];
    nsmon_watcher *w;
    nsmon_watcher_event ev;

    snprintf(nsname, sizeof nsname, "nsmon-t-c-%d", (int)getpid());
    CHECK(nsmon_watcher_new(NULL, &w) == 0); /* defaults: /var/run/netns, nsfs check */
    snprintf(cmd, sizeof cmd, "ip netns add %s", nsname);
    CHECK(system(cmd) == 0);
    ev = next_event_about(w, nsname);
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_CREATED);
    /* With the namespace's identity, the one nsmon_netns_identify gives. */
    nsmon_netns_ref ref = { .kind = NSMON_NETNS_NAME, .str = nsname };
    nsmon_netns_id id;
    CHECK(nsmon_netns_identify(&ref, &id) == 0);
    CHECK(ev.has_netns_id && ev.netns_id.has_id && ev.netns_id.id == id.id);
    CHECK(ev.netns_id.dev == id.dev && ev.netns_id.ino == id.ino);
    CHECK(strcmp(ev.dir, "/var/run/netns") == 0);
    snprintf(cmd, sizeof cmd, "ip netns del %s", nsname);
    CHECK(system(cmd) == 0);
    ev = next_event_about(w, nsname);
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_DELETED);
    CHECK(ev.has_netns_id && ev.netns_id.id == id.id); /* the identity it was created with */
    nsname[0] = '\0';
    nsmon_watcher_free(w);
}

/* Two folders at once, one given twice: a namespace in the second is reported with it. */
static void test_two_folders(void)
{
    char second[256], file[300], cmd[700];
    nsmon_watcher_options *o;
    nsmon_watcher *w;
    nsmon_watcher_event ev;

    snprintf(second, sizeof second, "%s/second", tmpdir);
    CHECK(mkdir(second, 0700) == 0);
    CHECK(nsmon_watcher_options_new(&o) == 0);
    CHECK(nsmon_watcher_options_add_dir(o, "/var/run/netns") == 0);
    CHECK(nsmon_watcher_options_add_dir(o, second) == 0);
    CHECK(nsmon_watcher_options_add_dir(o, second) == 0); /* watched once */
    CHECK(nsmon_watcher_options_add_dir(o, NULL) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_options_add_dir(o, "") == -EINVAL);
    CHECK(nsmon_watcher_options_set_runtimes(o, false) == 0);
    CHECK(nsmon_watcher_options_set_runtimes(NULL, true) == NSMON_ERR_NULL);
    CHECK(nsmon_watcher_new(o, &w) == 0);
    nsmon_watcher_options_free(o);
    touch(second, "sandbox");
    snprintf(file, sizeof file, "%s/sandbox", second);
    snprintf(cmd, sizeof cmd, "unshare --net=%s true", file);
    CHECK(system(cmd) == 0);
    ev = next_event_about(w, "sandbox");
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_CREATED);
    CHECK(strcmp(ev.dir, second) == 0 && ev.dir_len == strlen(second));
    CHECK(ev.has_netns_id);
    snprintf(cmd, sizeof cmd, "umount %s", file);
    CHECK(system(cmd) == 0);
    ev = next_event_about(w, "sandbox");
    CHECK(ev.kind == NSMON_WATCHER_EVENT_KIND_DELETED);
    CHECK(strcmp(ev.dir, second) == 0);
    CHECK(nsmon_watcher_next(w, &ev) == 0); /* once, though given twice */
    nsmon_watcher_free(w);
    rm(second, "sandbox");
    CHECK(rmdir(second) == 0);
}

int main(void)
{
    CHECK(mkdtemp(tmpdir) != NULL);
    atexit(cleanup);
    test_bad_input();
    test_plain_files();
    test_real_namespace();
    test_two_folders();
    printf("watcher_test: all checks passed\n");
    return 0;
}
