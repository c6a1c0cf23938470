/*
 * The floor for the fleet benchmark: the least a program can do to count route events from many
 * namespaces. One thread, one NETLINK_ROUTE socket per namespace (entered with setns: this
 * process owns its thread), epoll, recv, and a walk over the netlink headers. No library.
 *
 *   bare_reader RCVBUF EXPECTED NAME...
 *
 * Prints "ready OPEN_US" once every socket is subscribed (OPEN_US: the time that took), then,
 * when EXPECTED route events have been counted or none came for 3 s, "COUNT OVERRUNS CPU_US"
 * (CPU: user + system of this process).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

static long cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bare_reader RCVBUF EXPECTED NAME...\n");
        return 2;
    }
    int rcvbuf = atoi(argv[1]);
    long expected = atol(argv[2]);
    long start = now_us();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 3; i < argc; i++) {
        char path[512];
        snprintf(path, sizeof path, "/var/run/netns/%s", argv[i]);
        int ns = open(path, O_RDONLY | O_CLOEXEC);
        if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
            perror(path);
            return 1;
        }
        close(ns);
        int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
        struct sockaddr_nl addr = { .nl_family = AF_NETLINK,
                                    .nl_groups = 1u << (RTNLGRP_IPV4_ROUTE - 1) };
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
            perror("netlink socket");
            return 1;
        }
        if (rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready %ld\n", now_us() - start);
    fflush(stdout);

    static char buf[65536];
    long count = 0, overruns = 0;
    int idle_ms = 60000; /* until the load starts */
    while (count < expected) {
        struct epoll_event ready[64];
        int n = epoll_wait(ep, ready, 64, idle_ms);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        idle_ms = 3000;
        for (int i = 0; i < n; i++) {
            for (;;) {
                ssize_t len = recv(ready[i].data.fd, buf, sizeof buf, 0);
                if (len < 0) {
                    if (errno == ENOBUFS) {
                        overruns++;
                        continue;
                    }
                    break; /* EAGAIN */
                }
                for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len);
                     h = NLMSG_NEXT(h, len))
                    if (h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE)
                        count++;
            }
        }
    }
    printf("%ld %ld %ld\n", count, overruns, cpu_us());
    return 0;
}
