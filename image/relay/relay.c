/*
 * The sandboxd relay: carries a tunnel's bytes between two connected sockets
 * with splice(2), so they go from one socket's buffers to the other's through a
 * pipe in the kernel instead of through the agent's JavaScript heap.
 *
 *   relay            (fd 0 and fd 1: the two sockets, both ways each)
 *
 * The agent hands a tunnel over once it carried enough bytes for the spawn to
 * pay (src/agent/relay.ts). Each direction runs until its source ends; the end
 * is passed on as a half-close (shutdown SHUT_WR). Exits 0 when both directions
 * ended, 1 on any error (the agent then closes both sockets). Poll-driven, with
 * non-blocking sockets (the agent's sockets are non-blocking already: the file
 * status flags are shared) and SPLICE_F_NONBLOCK on the pipes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

/* The most a pipe holds here, and one splice's worth (the kernel's default pipe is 64 KiB). */
#define PIPE_BYTES (1024 * 1024)

struct direction {
  int from;
  int to;
  int pipe_read;
  int pipe_write;
  size_t in_pipe;
  size_t capacity;
  int source_ended;
  int done;
};

static int open_direction(struct direction *d, int from, int to) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return -1;
  d->from = from;
  d->to = to;
  d->pipe_read = fds[0];
  d->pipe_write = fds[1];
  d->in_pipe = 0;
  d->source_ended = 0;
  d->done = 0;
  /* A larger pipe means fewer splices; the unprivileged limit may refuse it: keep the default then. */
  int size = fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
  if (size < 0) size = fcntl(fds[1], F_GETPIPE_SZ);
  d->capacity = size > 0 ? (size_t)size : 65536;
  return 0;
}

/* Moves what it can without blocking; -1 on an error. Sets *want_in / *want_out for poll. */
static int step(struct direction *d, int *want_in, int *want_out) {
  *want_in = 0;
  *want_out = 0;
  for (;;) {
    int progressed = 0;
    if (!d->source_ended && d->in_pipe < d->capacity) {
      ssize_t n = splice(d->from, NULL, d->pipe_write, NULL, d->capacity - d->in_pipe,
                         SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        progressed = 1;
      } else if (n == 0) {
        d->source_ended = 1;
        progressed = 1;
      } else if (errno == EAGAIN) {
        *want_in = 1;
      } else if (errno != EINTR) {
        return -1;
      }
    }
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe_read, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        progressed = 1;
      } else if (n < 0 && errno == EAGAIN) {
        *want_out = 1;
      } else if (n < 0 && errno != EINTR) {
        return -1;
      }
    }
    if (d->source_ended && d->in_pipe == 0) {
      /* The peer may be gone already: its end of the stream is then moot. */
      if (shutdown(d->to, SHUT_WR) != 0 && errno != ENOTCONN) return -1;
      d->done = 1;
      *want_in = 0;
      *want_out = 0;
      return 0;
    }
    if (!progressed) return 0;
    /* The pipe is full and the destination would block: wait for it, not for the source. */
    if (*want_out) *want_in = 0;
  }
}

int main(void) {
  /* A write to a socket whose peer is gone fails with EPIPE, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  for (int fd = 0; fd <= 1; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return 1;
  }
  struct direction ways[2];
  if (open_direction(&ways[0], 0, 1) != 0 || open_direction(&ways[1], 1, 0) != 0) return 1;
  for (;;) {
    /* fd 0 and fd 1, each polled for what the directions wait for; hang-ups are always reported. */
    struct pollfd polls[2] = {{.fd = 0, .events = 0}, {.fd = 1, .events = 0}};
    for (int w = 0; w < 2; w++) {
      struct direction *d = &ways[w];
      if (d->done) continue;
      int want_in = 0, want_out = 0;
      if (step(d, &want_in, &want_out) != 0) return 1;
      if (want_in) polls[d->from].events |= POLLIN;
      if (want_out) polls[d->to].events |= POLLOUT;
    }
    if (ways[0].done && ways[1].done) return 0;
    if (poll(polls, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (int w = 0; w < 2; w++) {
      /* A destination that can take nothing more: its direction is dropped (what it holds with it),
       * while the other still delivers what its source has left, as the agent's own splice does. */
      if ((polls[ways[w].to].revents & (POLLHUP | POLLERR)) != 0) ways[w].done = 1;
    }
  }
}
