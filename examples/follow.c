/*
 * Follows every named network namespace, in every container runtime's folder: the watcher says
 * which exist, the stream reports what changes inside them. One epoll loop over both fds.
 *
 *   cc follow.c $(pkg-config --cflags --libs nsmon) -o follow && sudo ./follow
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <nsmon.h>

/* Names (of namespaces, links) and paths are bytes, not necessarily UTF-8 and maybe with
 * control bytes: printed with their lengths. Each namespace is opened and keyed by its path
 * (folder and name); a path that is not UTF-8 cannot be a stream key: add fails. */
static void on_namespace(nsmon_stream *stream, const nsmon_watcher_event *ev)
{
    char path[4352];
    if (ev->kind != NSMON_WATCHER_EVENT_KIND_CREATED && ev->kind != NSMON_WATCHER_EVENT_KIND_DELETED)
        return;
    int len = snprintf(path, sizeof path, "%s/%s", ev->dir, ev->name);
    nsmon_netns_ref target = { .kind = NSMON_NETNS_PATH, .str = path };
    if (ev->kind == NSMON_WATCHER_EVENT_KIND_CREATED) {
        if (nsmon_stream_add(stream, path, &target, NULL) < 0)
            fprintf(stderr, "follow: %.*s: %s\n", len, path, nsmon_last_error());
        else
            printf("+ namespace %.*s (id %llu)\n", len, path,
                   (unsigned long long)ev->netns_id.id);
    } else if (nsmon_stream_remove(stream, path) == 1) {
        printf("- namespace %.*s\n", len, path);
    }
    fflush(stdout);
}

static void on_change(const nsmon_stream_event *ev)
{
    char addr[INET6_ADDRSTRLEN] = "";
    switch (ev->kind) {
    case NSMON_STREAM_EVENT_KIND_NEW_LINK:
    case NSMON_STREAM_EVENT_KIND_DEL_LINK:
        printf("[%.*s] %s link %.*s\n", (int)ev->key_len, ev->key,
               ev->kind == NSMON_STREAM_EVENT_KIND_NEW_LINK ? "new" : "del",
               (int)ev->link.name_len, ev->link.name);
        break;
    case NSMON_STREAM_EVENT_KIND_NEW_ROUTE:
    case NSMON_STREAM_EVENT_KIND_DEL_ROUTE:
        if (ev->route.dst.family)
            inet_ntop(ev->route.dst.family, ev->route.dst.bytes, addr, sizeof addr);
        printf("[%.*s] %s route %s/%u\n", (int)ev->key_len, ev->key,
               ev->kind == NSMON_STREAM_EVENT_KIND_NEW_ROUTE ? "new" : "del",
               ev->route.dst.family ? addr : "default", ev->route.dst_len);
        break;
    case NSMON_STREAM_EVENT_KIND_OVERRUN:
        if (ev->lost >= 0)
            printf("[%.*s] %lld events were lost\n", (int)ev->key_len, ev->key,
                   (long long)ev->lost);
        else
            printf("[%.*s] events were lost\n", (int)ev->key_len, ev->key);
        break;
    case NSMON_STREAM_EVENT_KIND_UNPARSED:
        printf("[%.*s] a message nsmon could not read: %s\n", (int)ev->key_len, ev->key,
               ev->reason);
        break;
    case NSMON_STREAM_EVENT_KIND_ERROR:
        printf("[%.*s] no longer followed: %s\n", (int)ev->key_len, ev->key, ev->reason);
        break;
    default:
        break;
    }
    fflush(stdout);
}

int main(void)
{
    nsmon_watcher_options *wo;
    nsmon_watcher *watcher;
    nsmon_stream *stream;

    if (nsmon_watcher_options_new(&wo) < 0)
        return 1;
    nsmon_watcher_options_set_list_existing(wo, true); /* the ones already there, too */
    nsmon_watcher_options_set_runtimes(wo, true); /* Docker's, containerd's, Podman's folders too */
    int rc = nsmon_watcher_new(wo, &watcher);
    nsmon_watcher_options_free(wo);
    if (rc < 0 || nsmon_stream_new(&stream) < 0) {
        fprintf(stderr, "follow: %s\n", nsmon_last_error());
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event w = { .events = EPOLLIN, .data.u32 = 0 };
    struct epoll_event s = { .events = EPOLLIN, .data.u32 = 1 };
    epoll_ctl(ep, EPOLL_CTL_ADD, nsmon_watcher_fd(watcher), &w);
    epoll_ctl(ep, EPOLL_CTL_ADD, nsmon_stream_fd(stream), &s);

    for (;;) {
        nsmon_watcher_event wev;
        while ((rc = nsmon_watcher_next(watcher, &wev)) == 1)
            on_namespace(stream, &wev);
        nsmon_stream_event sev;
        while (rc >= 0 && (rc = nsmon_stream_next(stream, &sev)) == 1)
            on_change(&sev);
        if (rc < 0) {
            fprintf(stderr, "follow: %s\n", nsmon_last_error());
            break;
        }
        struct epoll_event ready[2];
        if (epoll_wait(ep, ready, 2, -1) < 0)
            continue; /* EINTR */
    }
    close(ep);
    nsmon_stream_free(stream);
    nsmon_watcher_free(watcher);
    return 1;
}
