/*
 * check.h — the tiny assertion header of the conformance programs.
 *
 * Every check prints exactly one line on stdout:
 *
 *     ok <name>
 *     FAIL <name>: <detail>
 *
 * The harness (tests/tests/conformance.rs) runs each program natively and
 * under `sandbox run` and compares these lines, so everything printed must be
 * deterministic: no addresses, pids, fds, times or sizes of host files in a
 * line that can pass. Details of failures may hold values (they only appear
 * when something is already wrong). Names are unique within a program and
 * contain no spaces; a program's known gaps (`<program>.gaps`) name them.
 *
 * A program ends with `return check_exit();`: 0 if every check passed, 1
 * otherwise.
 */
#ifndef SANDBOX_CHECK_H
#define SANDBOX_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int check_failures_;

/* Line-buffer stdout before main(): if the program dies half-way (a signal
 * under a buggy sandbox), every line printed so far still reaches the
 * harness, which can then say how far it got. */
__attribute__((constructor)) static void check_init_(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* "ENOENT" for ENOENT; "errno 1234" for numbers glibc has no name for. */
static const char *check_errno_name_(int e)
{
	static char buf[32];
	const char *name = strerrorname_np(e);
	if (name != NULL)
		return name;
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

static void check_report_(const char *name, int ok, const char *detail)
{
	if (ok) {
		printf("ok %s\n", name);
	} else {
		printf("FAIL %s: %s\n", name, detail);
		check_failures_++;
	}
}

/* CHECK(name, expr): passes when expr is true. On failure the detail is the
 * expression's text, with errno's name (errno often says why). */
#define CHECK(name, expr)                                                    \
	do {                                                                 \
		errno = 0;                                                   \
		int check_ok_ = !!(expr);                                    \
		int check_errno_ = errno;                                    \
		char check_detail_[512];                                     \
		snprintf(check_detail_, sizeof check_detail_,                \
			 "%s is false (errno %s)", #expr,                    \
			 check_errno_ ? check_errno_name_(check_errno_)      \
				      : "0");                                \
		check_report_(name, check_ok_, check_detail_);               \
	} while (0)

/* CHECK_ERRNO(name, ERRNO, call): passes when call returns -1 (or
 * MAP_FAILED, which is -1 too) and sets errno to ERRNO. */
#define CHECK_ERRNO(name, ERRNO, call)                                       \
	do {                                                                 \
		errno = 0;                                                   \
		long check_ret_ = (long)(call);                              \
		int check_errno_ = errno;                                    \
		char check_detail_[512];                                     \
		snprintf(check_detail_, sizeof check_detail_,                \
			 "expected -1 %s, got %ld (errno %s)", #ERRNO,       \
			 check_ret_,                                         \
			 check_errno_ ? check_errno_name_(check_errno_)      \
				      : "0");                                \
		check_report_(name,                                          \
			      check_ret_ == -1 && check_errno_ == (ERRNO),   \
			      check_detail_);                                \
	} while (0)

/* The program's exit status: 0 when all checks passed, 1 otherwise. */
static int check_exit(void)
{
	fflush(stdout);
	return check_failures_ == 0 ? 0 : 1;
}

#endif /* SANDBOX_CHECK_H */
