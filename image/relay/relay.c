/*
 * The sandboxd relay: carries a tunnel's bytes between two connected sockets
 * with splice(2), so they go from one socket's buffers to the other's through a
 * pipe in the kernel instead of through a JavaScript heap.
 *
 *   relay                       fd 0 and fd 1: the two sockets, both ways each
 *   relay --metered IDLE_MS     the same, within the bytes granted on fd 3
 *   relay --metered IDLE_MS --count BYTES
 *                               fd 0 → fd 1 only, exactly BYTES, then the half-close
 *                               (a response body whose length its head gave)
 *   relay --probe               exits 0 (the control plane checks that its copy runs)
 *
 * The agent hands a tunnel over once it carried enough bytes for the spawn to
 * pay (src/agent/relay.ts), and so does the control plane (src/protocol/relay.ts),
 * metered: there fd 3 is a socket to it. It writes grants, each 8 bytes (a
 * little-endian count of bytes that may move, either way, on top of the ones
 * before); the relay reads from a source only as far as its grants reach, and
 * writes reports, each 16 bytes (little-endian totals so far: fd 0 → fd 1, then
 * fd 1 → fd 0), when it used REPORT_BYTES since its last one, when it waits for
 * a grant, and at its end. Nothing moving either way for IDLE_MS ends it (exit 3);
 * fd 3's end ends it too (exit 1).
 *
 * Each direction runs until its source ends; the end is passed on as a
 * half-close (shutdown SHUT_WR). Exits 0 when both directions ended, 1 on any
 * error (the caller then closes both sockets). Poll-driven, with non-blocking
 * sockets (the caller's sockets are non-blocking already: the file status flags
 * are shared) and SPLICE_F_NONBLOCK on the pipes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The most a pipe holds here, and one splice's worth (the kernel's default pipe is 64 KiB). */
#define PIPE_BYTES (1024 * 1024)

/* A metered relay reports when it moved this much since its last report. */
#define REPORT_BYTES (256 * 1024)
#define CONTROL_FD 3
#define EXIT_IDLE 3

/* The metered mode's account: bytes granted and not yet used, and the totals each way. */
static int metered = 0;
static uint64_t credit = 0;
static uint64_t moved[2] = {0, 0};
/* Bytes each way written on (moved counts them as read). */
static uint64_t delivered[2] = {0, 0};
/* When a byte last moved either way (CLOCK_MONOTONIC, ms): the idle limit counts from it. */
static int64_t last_moved_ms = 0;
static uint64_t reported = 0;
/* --count: fd 0 → fd 1 carries exactly this many bytes (UINT64_MAX: until its end). */
static uint64_t count = UINT64_MAX;
static unsigned char grant_bytes[8];
static size_t grant_length = 0;

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

static int64_t now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Writes the totals to fd 3; `wait` blocks until they are written (the last report). -1 when fd 3 is gone. */
static int report(int wait) {
  unsigned char message[16];
  for (int i = 0; i < 8; i++) {
    message[i] = (unsigned char)(moved[0] >> (8 * i));
    message[8 + i] = (unsigned char)(moved[1] >> (8 * i));
  }
  size_t written = 0;
  while (written < sizeof message) {
    ssize_t n = send(CONTROL_FD, message + written, sizeof message - written, wait ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      written += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    /* A report that would block is dropped whole (the next one carries its totals), never cut. */
    if (n < 0 && errno == EAGAIN && written == 0 && !wait) return 0;
    if (n < 0 && errno == EAGAIN) {
      struct pollfd out = {.fd = CONTROL_FD, .events = POLLOUT};
      poll(&out, 1, -1);
      continue;
    }
    return -1;
  }
  reported = moved[0] + moved[1];
  return 0;
}

/* Adds what fd 3 granted to the credit; -1 when fd 3 ended or failed. */
static int read_grants(void) {
  for (;;) {
    ssize_t n = recv(CONTROL_FD, grant_bytes + grant_length, sizeof grant_bytes - grant_length, MSG_DONTWAIT);
    if (n == 0) return -1;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    grant_length += (size_t)n;
    if (grant_length < sizeof grant_bytes) continue;
    uint64_t granted = 0;
    for (int i = 0; i < 8; i++) granted |= (uint64_t)grant_bytes[i] << (8 * i);
    credit += granted;
    grant_length = 0;
  }
}

/* Moves what it can without blocking; -1 on an error. Sets *want_in / *want_out for poll. */
static int step(struct direction *d, int *want_in, int *want_out) {
  *want_in = 0;
  *want_out = 0;
  for (;;) {
    int progressed = 0;
    size_t room = d->capacity - d->in_pipe;
    if (metered && credit < room) room = (size_t)credit;
    if (d->from == 0 && count - moved[0] < room) room = (size_t)(count - moved[0]);
    /* A counted body that arrived whole ends here: what follows is not the body's. */
    if (d->from == 0 && moved[0] == count) d->source_ended = 1;
    if (!d->source_ended && room > 0) {
      ssize_t n = splice(d->from, NULL, d->pipe_write, NULL, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        moved[d->from] += (uint64_t)n;
        if (metered) credit -= (uint64_t)n;
        last_moved_ms = now_ms();
        progressed = 1;
      } else if (n == 0) {
        /* A counted body cut short is an error: the destination must not take it as whole. */
        if (d->from == 0 && count != UINT64_MAX) return -1;
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
        delivered[d->from] += (uint64_t)n;
        last_moved_ms = now_ms();
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

/* The end of a metered relay: the last totals, then the exit status. A counted body not
 * delivered whole (its destination hung up) is a failure, whatever ended it. */
static int finish(int status) {
  if (status == 0 && count != UINT64_MAX && delivered[0] != count) status = 1;
  if (metered && report(1) != 0 && status == 0) return 1;
  return status;
}

int main(int argc, char **argv) {
  int idle_ms = -1;
  if (argc == 2 && strcmp(argv[1], "--probe") == 0) return 0;
  if ((argc == 3 || argc == 5) && strcmp(argv[1], "--metered") == 0) {
    char *end = NULL;
    long parsed = strtol(argv[2], &end, 10);
    if (end == argv[2] || *end != '\0' || parsed <= 0 || parsed > 24L * 3600 * 1000) return 1;
    metered = 1;
    idle_ms = (int)parsed;
    if (argc == 5) {
      if (strcmp(argv[3], "--count") != 0 || argv[4][0] < '0' || argv[4][0] > '9') return 1;
      errno = 0;
      unsigned long long bytes = strtoull(argv[4], &end, 10);
      if (errno != 0 || *end != '\0' || bytes == 0 || bytes >= UINT64_MAX) return 1;
      count = (uint64_t)bytes;
    }
  } else if (argc != 1) {
    return 1;
  }
  /* A write to a socket whose peer is gone fails with EPIPE, not a signal. */
  signal(SIGPIPE, SIG_IGN);
  for (int fd = 0; fd <= 1; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return 1;
  }
  struct direction ways[2];
  if (open_direction(&ways[0], 0, 1) != 0 || open_direction(&ways[1], 1, 0) != 0) return 1;
  /* A counted body goes one way: nothing of fd 1's is read (nor passed on). */
  if (count != UINT64_MAX) ways[1].done = 1;
  /* fd 0 or 1 once it reported a hang-up or an error: poll reports that at once on every call
   * (whatever it is asked for), so it is no longer polled; splice finds its end or its error. */
  int hung[2] = {0, 0};
  last_moved_ms = now_ms();
  for (;;) {
    if (metered && read_grants() != 0) return finish(1);
    /* fd 0 and fd 1, each polled for what the directions wait for; hang-ups are always reported.
     * fd 3 (metered) for grants, always: its end must end the relay even while bytes flow. */
    struct pollfd polls[3] = {
        {.fd = hung[0] ? -1 : 0, .events = 0},
        {.fd = hung[1] ? -1 : 1, .events = 0},
        {.fd = CONTROL_FD, .events = POLLIN},
    };
    for (int w = 0; w < 2; w++) {
      struct direction *d = &ways[w];
      if (d->done) continue;
      int want_in = 0, want_out = 0;
      if (step(d, &want_in, &want_out) != 0) return finish(1);
      if (want_in) polls[d->from].events |= POLLIN;
      if (want_out) polls[d->to].events |= POLLOUT;
    }
    if (ways[0].done && ways[1].done) return finish(0);
    if (metered) {
      uint64_t total = moved[0] + moved[1];
      /* Out of credit with a source still open: say so, then wait for fd 3. */
      int starved = credit == 0 && total != reported;
      if ((starved || total - reported >= REPORT_BYTES) && report(0) != 0) return finish(1);
    }
    /* Idle: no byte either way for idle_ms, however often poll wakes meanwhile. */
    int timeout = -1;
    if (idle_ms > 0) {
      int64_t left = idle_ms - (now_ms() - last_moved_ms);
      if (left <= 0) return finish(EXIT_IDLE);
      timeout = (int)left;
    }
    if (poll(polls, metered ? 3 : 2, timeout) < 0) {
      if (errno == EINTR) continue;
      return finish(1);
    }
    for (int fd = 0; fd <= 1; fd++) {
      if ((polls[fd].revents & (POLLHUP | POLLERR)) != 0) hung[fd] = 1;
    }
    for (int w = 0; w < 2; w++) {
      /* A destination that can take nothing more: its direction is dropped (what it holds with it),
       * while the other still delivers what its source has left, as the agent's own splice does. */
      if (hung[ways[w].to]) ways[w].done = 1;
    }
  }
}
