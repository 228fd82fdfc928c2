/*
 * The sandboxd command launcher: a small process the agent starts once and asks
 * to start every command, because Node's spawn forks the whole agent (about
 * 10 ms inside the container) where a vfork-style spawn of this tiny process
 * takes a fraction of that.
 *
 *   launcher STDIO-SOCKET-NAME
 *
 * Control channel: stdin carries requests, stdout replies; the launcher exits
 * when stdin closes. A request is a u32 length (little-endian) and that many
 * bytes of NUL-terminated fields:
 *
 *   token, cwd, argc (decimal), argv[0] .. argv[argc-1], env entries...
 *
 * Replies are lines:
 *
 *   ready
 *   spawned TOKEN PID
 *   failed TOKEN ERRNO-NAME STAGE      stage: request, stdio, spawn or exec
 *   exit PID CODE SIGNAL               code -1 when killed; signal 0 when exited
 *   refused REASON                     a request without a usable token
 *
 * Stdio: for each command the launcher connects three times to the agent's
 * abstract Unix socket STDIO-SOCKET-NAME, sends "TOKEN N\n" (N: 0 stdin,
 * 1 stdout, 2 stderr) on each connection and hands the three sockets to the
 * command as fds 0, 1 and 2: Unix stream sockets, as libuv gives a child for
 * 'pipe' stdio. The token came over the private control channel, so another
 * process in the container cannot pass its connection off as a command's stream.
 *
 * The child runs on its own stack under CLONE_VM | CLONE_VFORK and makes only
 * async-signal-safe system calls before execve: setsid, oom_score_adj 1000,
 * chdir, dup2, signal reset. Everything it needs is prepared before the clone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TOKEN_CHARS 32
#define STREAM_HEADER_BYTES (TOKEN_CHARS + 3)
/* Keep in step with MAX_REQUEST_BYTES in src/agent/tools/commands/launcher.ts. */
#define MAX_REQUEST_BYTES (4u * 1024 * 1024)
#define MAX_REQUEST_FIELDS (128u * 1024)
#define READ_CHUNK_BYTES (64 * 1024)
#define CHILD_STACK_BYTES (64 * 1024)
#define CONNECT_TIMEOUT_SECONDS 2
#define MAX_SOCKET_NAME_CHARS 100
/* What glibc's execvp searches when the environment has no PATH. */
#define DEFAULT_SEARCH_PATH "/bin:/usr/bin"
/* What execvp runs a file with when the kernel does not know its format. */
#define SCRIPT_SHELL "/bin/sh"

struct request {
  const char *token;
  const char *cwd;
  size_t argc;
  char **argv; /* argc entries and NULL */
  char **envp; /* NULL-terminated */
};

/* Everything the child needs, prepared by the parent; the child writes only `error` and one script_argv slot. */
struct plan {
  const char *cwd;
  char **argv;
  char **envp;
  char **candidates;  /* execve paths in search order, NULL-terminated */
  char **script_argv; /* SCRIPT_SHELL, (the file), argv[1..], NULL */
  int stdio[3];
  volatile int error;
};

static struct sockaddr_un stdio_address;
static socklen_t stdio_address_length;
static char *child_stack_top;

/* ---- replies ---- */

static void write_all_or_exit(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t written = write(fd, data, length);
    if (written < 0) {
      if (errno == EINTR) continue;
      _exit(1); /* the agent is gone: nobody is left to serve */
    }
    data += written;
    length -= (size_t)written;
  }
}

static void reply(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *format, ...) {
  char line[256];
  va_list arguments;
  va_start(arguments, format);
  int length = vsnprintf(line, sizeof line, format, arguments);
  va_end(arguments);
  if (length < 0) return;
  if ((size_t)length >= sizeof line) length = sizeof line - 1;
  write_all_or_exit(STDOUT_FILENO, line, (size_t)length);
}

static const char *errno_name(int error) {
  const char *name = strerrorname_np(error);
  return name != NULL ? name : "EUNKNOWN";
}

static void reply_failed(const char *token, int error, const char *stage) {
  reply("failed %s %s %s\n", token, errno_name(error), stage);
}

/* ---- the child: async-signal-safe calls only ---- */

static void exec_search(struct plan *plan) {
  int saw_eacces = 0;
  int error = ENOENT;
  for (char **candidate = plan->candidates; *candidate != NULL; candidate++) {
    execve(*candidate, plan->argv, plan->envp);
    error = errno;
    if (error == ENOEXEC) {
      plan->script_argv[1] = *candidate;
      execve(SCRIPT_SHELL, plan->script_argv, plan->envp);
      error = errno;
    }
    /* As glibc's execvp: keep searching past missing and forbidden files, stop at anything else. */
    if (error == EACCES) {
      saw_eacces = 1;
    } else if (error != ENOENT && error != ESTALE && error != ENOTDIR && error != ENODEV &&
               error != ETIMEDOUT) {
      plan->error = error;
      return;
    }
  }
  plan->error = saw_eacces ? EACCES : error;
}

static void child_fail(struct plan *plan, int error) __attribute__((noreturn));
static void child_fail(struct plan *plan, int error) {
  plan->error = error;
  _exit(127);
}

static int child_main(void *argument) {
  struct plan *plan = argument;
  if (setsid() < 0) child_fail(plan, errno);
  /* Every process of the command starts as the OOM killer's first choice, before it can fork. */
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    if (write(oom, "1000", 4) < 0) {
      /* Where the score cannot be raised the command runs at the default one, as under the old sh wrapper. */
    }
    close(oom);
  }
  if (chdir(plan->cwd) < 0) child_fail(plan, errno);
  /* The sockets are above 2 and close-on-exec; dup2 gives the command copies without the flag. */
  for (int fd = 0; fd < 3; fd++) {
    if (dup2(plan->stdio[fd], fd) < 0) child_fail(plan, errno);
  }
  /* SIGPIPE is the launcher's only disposition that is not the default (main resets the rest). */
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  exec_search(plan);
  _exit(127);
}

/* ---- the parent ---- */

/* Where execvp would look for `file`, on the command's own PATH, in order. */
static char **search_candidates(const char *file, char **envp) {
  const char *search_path = DEFAULT_SEARCH_PATH;
  size_t file_length = strlen(file);
  if (strchr(file, '/') != NULL || file_length == 0) {
    search_path = NULL;
  } else {
    for (char **entry = envp; *entry != NULL; entry++) {
      if (strncmp(*entry, "PATH=", 5) == 0) {
        search_path = *entry + 5;
        break;
      }
    }
  }
  size_t count = 1;
  size_t bytes = file_length + 1;
  if (search_path != NULL) {
    bytes = 0;
    for (const char *p = search_path;; p++) {
      if (*p == ':' || *p == '\0') bytes += file_length + 2;
      if (*p == ':') count++;
      if (*p == '\0') break;
    }
    bytes += strlen(search_path);
  }
  if (file_length == 0) count = 0; /* an empty name is ENOENT, as with execvp */
  char **candidates = malloc((count + 1) * sizeof *candidates + bytes);
  if (candidates == NULL) return NULL;
  char *text = (char *)(candidates + count + 1);
  if (search_path == NULL) {
    if (count == 1) {
      memcpy(text, file, file_length + 1);
      candidates[0] = text;
    }
    candidates[count] = NULL;
    return candidates;
  }
  size_t index = 0;
  for (const char *start = search_path;;) {
    const char *end = strchrnul(start, ':');
    size_t directory_length = (size_t)(end - start);
    candidates[index++] = text;
    /* An empty element is the working directory: the bare name, as execvp tries it. */
    if (directory_length > 0) {
      memcpy(text, start, directory_length);
      text += directory_length;
      *text++ = '/';
    }
    memcpy(text, file, file_length + 1);
    text += file_length + 1;
    if (*end == '\0') break;
    start = end + 1;
  }
  candidates[index] = NULL;
  return candidates;
}

/* One stdio connection to the agent, identified by the command's token; -errno on failure. */
static int connect_stream(const char *token, int stream) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  /* A full accept queue must not hang the launcher: connect waits at most this long. */
  struct timeval timeout = {.tv_sec = CONNECT_TIMEOUT_SECONDS, .tv_usec = 0};
  struct timeval no_timeout = {.tv_sec = 0, .tv_usec = 0};
  char header[STREAM_HEADER_BYTES];
  memcpy(header, token, TOKEN_CHARS);
  header[TOKEN_CHARS] = ' ';
  header[TOKEN_CHARS + 1] = (char)('0' + stream);
  header[TOKEN_CHARS + 2] = '\n';
  int error = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
      connect(fd, (const struct sockaddr *)&stdio_address, stdio_address_length) < 0 ||
      write(fd, header, sizeof header) != (ssize_t)sizeof header ||
      /* The command's own writes block as on a pipe: no timeout once connected. */
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &no_timeout, sizeof no_timeout) < 0) {
    error = errno != 0 ? errno : EIO;
  }
  if (error != 0) {
    close(fd);
    return -error;
  }
  return fd;
}

static void spawn_command(const struct request *request) {
  struct plan plan = {.cwd = request->cwd, .argv = request->argv, .envp = request->envp, .stdio = {-1, -1, -1}};
  plan.error = 0;
  plan.candidates = search_candidates(request->argv[0], request->envp);
  plan.script_argv = malloc((request->argc + 2) * sizeof *plan.script_argv);
  if (plan.candidates == NULL || plan.script_argv == NULL) {
    reply_failed(request->token, ENOMEM, "spawn");
    goto done;
  }
  plan.script_argv[0] = SCRIPT_SHELL;
  plan.script_argv[1] = request->argv[0];
  for (size_t index = 1; index <= request->argc; index++) plan.script_argv[index + 1] = request->argv[index];
  for (int stream = 0; stream < 3; stream++) {
    int fd = connect_stream(request->token, stream);
    if (fd < 0) {
      reply_failed(request->token, -fd, "stdio");
      goto done;
    }
    plan.stdio[stream] = fd;
  }
  /* No signal handler may run on the shared memory before the child resets them. */
  sigset_t all, saved;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, &saved);
  pid_t pid = clone(child_main, child_stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  int clone_error = errno;
  sigprocmask(SIG_SETMASK, &saved, NULL);
  if (pid < 0) {
    reply_failed(request->token, clone_error, "spawn"); /* EAGAIN when the pids limit is full */
  } else if (plan.error != 0) {
    /* CLONE_VFORK returned, so the child has already exited; reap it here so it is never reported as an exit. */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    reply_failed(request->token, plan.error, "exec");
  } else {
    reply("spawned %s %d\n", request->token, (int)pid);
  }
done:
  for (int stream = 0; stream < 3; stream++) {
    if (plan.stdio[stream] >= 0) close(plan.stdio[stream]);
  }
  free(plan.candidates);
  free(plan.script_argv);
}

static int is_token(const char *text) {
  size_t length = 0;
  for (; text[length] != '\0'; length++) {
    char c = text[length];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return length == TOKEN_CHARS;
}

/* Splits and checks one request in place; returns NULL or why it is refused. */
static const char *parse_request(char *payload, size_t length, struct request *request, char ***fields_out) {
  if (length == 0 || payload[length - 1] != '\0') return "fields-not-terminated";
  size_t count = 0;
  for (size_t index = 0; index < length; index++) count += payload[index] == '\0';
  if (count > MAX_REQUEST_FIELDS) return "too-many-fields";
  if (count < 4) return "too-few-fields";
  /* argv and envp side by side, each NULL-terminated: count - 3 strings and two NULLs. */
  char **fields = malloc((count + 2) * sizeof *fields);
  if (fields == NULL) return "out-of-memory";
  *fields_out = fields;
  char *cursor = payload;
  request->token = cursor;
  cursor += strlen(cursor) + 1;
  request->cwd = cursor;
  cursor += strlen(cursor) + 1;
  const char *argc_text = cursor;
  cursor += strlen(cursor) + 1;
  if (!is_token(request->token)) return "bad-token";
  if (request->cwd[0] != '/') return "cwd-not-absolute";
  size_t argc = 0;
  if (argc_text[0] == '\0' || strlen(argc_text) > 7) return "bad-argc";
  for (const char *digit = argc_text; *digit != '\0'; digit++) {
    if (*digit < '0' || *digit > '9') return "bad-argc";
    argc = argc * 10 + (size_t)(*digit - '0');
  }
  if (argc == 0 || argc > count - 3) return "bad-argc";
  request->argc = argc;
  request->argv = fields;
  for (size_t index = 0; index < argc; index++) {
    fields[index] = cursor;
    cursor += strlen(cursor) + 1;
  }
  fields[argc] = NULL;
  request->envp = fields + argc + 1;
  size_t env_count = count - 3 - argc;
  for (size_t index = 0; index < env_count; index++) {
    request->envp[index] = cursor;
    cursor += strlen(cursor) + 1;
  }
  request->envp[env_count] = NULL;
  return NULL;
}

static void handle_request(char *payload, size_t length) {
  struct request request;
  memset(&request, 0, sizeof request);
  char **fields = NULL;
  const char *refusal = parse_request(payload, length, &request, &fields);
  if (refusal == NULL) {
    spawn_command(&request);
  } else if (request.token != NULL && is_token(request.token)) {
    reply("failed %s EINVAL request %s\n", request.token, refusal);
  } else {
    reply("refused %s\n", refusal);
  }
  free(fields);
}

/* ---- the control channel ---- */

static struct {
  char *data;
  size_t start;
  size_t end;
  size_t capacity;
  size_t skip; /* bytes of an oversized request still to discard */
} input;

static uint32_t read_u32_le(const char *bytes) {
  const unsigned char *b = (const unsigned char *)bytes;
  return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void handle_input(void) {
  for (;;) {
    size_t available = input.end - input.start;
    if (input.skip > 0) {
      size_t dropped = available < input.skip ? available : input.skip;
      input.start += dropped;
      input.skip -= dropped;
      if (input.skip > 0) break;
      continue;
    }
    if (available < 4) break;
    uint32_t length = read_u32_le(input.data + input.start);
    if (length == 0 || length > MAX_REQUEST_BYTES) {
      input.start += 4;
      input.skip = length;
      reply("refused request-size-%u\n", length);
      continue;
    }
    if (available < 4 + (size_t)length) break;
    handle_request(input.data + input.start + 4, length);
    input.start += 4 + (size_t)length;
  }
  if (input.start == input.end) input.start = input.end = 0;
}

/* Reads what the agent sent; returns 0 once the control channel is closed. */
static int read_input(void) {
  if (input.start > 0 && input.capacity - input.end < READ_CHUNK_BYTES) {
    memmove(input.data, input.data + input.start, input.end - input.start);
    input.end -= input.start;
    input.start = 0;
  }
  if (input.capacity - input.end < READ_CHUNK_BYTES) {
    /* Doubling: a request of a few MiB costs a few copies, not one per chunk. */
    size_t capacity = input.capacity * 2 > input.end + READ_CHUNK_BYTES ? input.capacity * 2 : input.end + READ_CHUNK_BYTES;
    char *data = realloc(input.data, capacity);
    if (data == NULL) {
      fprintf(stderr, "launcher: out of memory for a request\n");
      return 0;
    }
    input.data = data;
    input.capacity = capacity;
  }
  ssize_t count = read(STDIN_FILENO, input.data + input.end, input.capacity - input.end);
  if (count < 0) return errno == EINTR || errno == EAGAIN;
  if (count == 0) return 0;
  input.end += (size_t)count;
  handle_input();
  /* A buffer grown for one large request does not stay that large. */
  if (input.end == 0 && input.capacity > 4 * READ_CHUNK_BYTES) {
    free(input.data);
    input.data = NULL;
    input.capacity = 0;
  }
  return 1;
}

static void reap_children(int signal_fd) {
  struct signalfd_siginfo info;
  while (read(signal_fd, &info, sizeof info) == (ssize_t)sizeof info) {
  }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == EINTR) continue;
    if (pid <= 0) return;
    if (WIFEXITED(status)) {
      reply("exit %d %d 0\n", (int)pid, WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      reply("exit %d -1 %d\n", (int)pid, WTERMSIG(status));
    }
  }
}

static int set_stdio_address(const char *name) {
  size_t length = strlen(name);
  if (length == 0 || length > MAX_SOCKET_NAME_CHARS) return -1;
  for (const char *c = name; *c != '\0'; c++) {
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' ||
          *c == '_' || *c == '.'))
      return -1;
  }
  memset(&stdio_address, 0, sizeof stdio_address);
  stdio_address.sun_family = AF_UNIX;
  /* Abstract namespace: a leading NUL, then the name, no terminator counted. */
  memcpy(stdio_address.sun_path + 1, name, length);
  stdio_address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || set_stdio_address(argv[1]) < 0) {
    fprintf(stderr, "usage: launcher STDIO-SOCKET-NAME (letters, digits, '-', '_', '.')\n");
    return 2;
  }
  /* Nothing the agent may have left open reaches a command (close_range needs Linux 5.11; best effort). */
  close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
  /* Commands start with every signal at its default, as libuv's children do: whatever dispositions
     the launcher was started with are reset here once, and the child has only SIGPIPE to restore. */
  for (int signal_number = 1; signal_number < 32; signal_number++) {
    if (signal_number != SIGKILL && signal_number != SIGSTOP) signal(signal_number, SIG_DFL);
  }
  /* A closed reply channel shows as EPIPE on write, then the launcher exits. */
  signal(SIGPIPE, SIG_IGN);
  /* The launcher reaps its own children only; it never becomes a subreaper, so orphans go to PID 1. */
  sigset_t child_signal;
  sigemptyset(&child_signal);
  sigaddset(&child_signal, SIGCHLD);
  sigprocmask(SIG_BLOCK, &child_signal, NULL);
  int signal_fd = signalfd(-1, &child_signal, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) {
    perror("launcher: signalfd");
    return 1;
  }
  char *stack = mmap(NULL, CHILD_STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    perror("launcher: mmap");
    return 1;
  }
  /* A guard page below the child's stack. */
  mprotect(stack, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE);
  child_stack_top = stack + CHILD_STACK_BYTES;
  reply("ready\n");
  for (;;) {
    struct pollfd watched[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = signal_fd, .events = POLLIN}};
    if (poll(watched, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("launcher: poll");
      return 1;
    }
    if (watched[1].revents != 0) reap_children(signal_fd);
    if (watched[0].revents != 0 && !read_input()) return 0;
  }
}
