/*
 * errors.c — the errno each kind of bad argument gets: EFAULT for wild
 * pointers, EBADF, ENOENT, ENOTDIR, EISDIR, EINVAL, ENOTTY, ENOSYS for
 * numbers no kernel defines, ENAMETOOLONG.
 *
 * Calls that glibc could answer without the kernel (through the vDSO, or by
 * checking arguments itself) go through syscall(2), so the kernel — or the
 * sandbox — is what answers.
 */
#include "check.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* An address nothing is mapped at in any x86_64 process. Read through a
 * volatile so the compiler cannot see the constant and warn about it. */
static void *volatile wild = (void *)1;
#define WILD (wild)

static void bad_pointers(void)
{
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	struct stat st;
	CHECK_ERRNO("write_wild_buffer_efault", EFAULT, write(1, WILD, 10));
	CHECK_ERRNO("read_into_wild_buffer_efault", EFAULT, read(fd, WILD, 10));
	CHECK_ERRNO("stat_wild_path_efault", EFAULT, stat((const char *)WILD, &st));
	CHECK_ERRNO("fstat_wild_buffer_efault", EFAULT,
		    syscall(SYS_fstat, fd, WILD));
	CHECK_ERRNO("uname_null_efault", EFAULT, syscall(SYS_uname, NULL));
	CHECK_ERRNO("clock_gettime_wild_efault", EFAULT,
		    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, WILD));
	CHECK_ERRNO("getcwd_wild_buffer_efault", EFAULT,
		    syscall(SYS_getcwd, WILD, 100));
	close(fd);
}

static void bad_fds(void)
{
	char c;
	struct stat st;
	CHECK_ERRNO("read_fd_999_ebadf", EBADF, read(999, &c, 1));
	CHECK_ERRNO("write_fd_999_ebadf", EBADF, write(999, "x", 1));
	CHECK_ERRNO("close_fd_999_ebadf", EBADF, close(999));
	CHECK_ERRNO("fstat_fd_999_ebadf", EBADF, fstat(999, &st));
	CHECK_ERRNO("read_fd_minus_1_ebadf", EBADF, read(-1, &c, 1));
	CHECK_ERRNO("close_fd_minus_1_ebadf", EBADF, close(-1));
}

static void bad_paths(void)
{
	struct stat st;
	CHECK_ERRNO("open_missing_enoent", ENOENT,
		    open("/nonexistent-sandbox-test", O_RDONLY));
	CHECK_ERRNO("stat_missing_enoent", ENOENT,
		    stat("/nonexistent-sandbox-test/x", &st));
	CHECK_ERRNO("open_empty_path_enoent", ENOENT, open("", O_RDONLY));
	CHECK_ERRNO("open_under_file_enotdir", ENOTDIR,
		    open("/etc/passwd/x", O_RDONLY));

	char name[1 + 300 + 1];
	name[0] = '/';
	memset(name + 1, 'a', 300);
	name[301] = '\0';
	CHECK_ERRNO("open_300_char_component_enametoolong", ENAMETOOLONG,
		    open(name, O_RDONLY));
}

static void bad_operations(void)
{
	char buf[16];
	int dir = open("/usr", O_RDONLY | O_CLOEXEC);
	CHECK_ERRNO("read_directory_eisdir", EISDIR, read(dir, buf, sizeof buf));
	close(dir);

	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	CHECK_ERRNO("lseek_whence_99_einval", EINVAL, lseek(fd, 0, 99));
	struct termios t;
	CHECK_ERRNO("tcgets_on_regular_file_enotty", ENOTTY, ioctl(fd, TCGETS, &t));
	close(fd);

	/* No kernel defines 1000; -1 is the number ptrace uses to skip a call. */
	CHECK_ERRNO("syscall_1000_enosys", ENOSYS, syscall(1000));
	CHECK_ERRNO("syscall_minus_1_enosys", ENOSYS, syscall((long)-1));
}

int main(void)
{
	bad_pointers();
	bad_fds();
	bad_paths();
	bad_operations();
	return check_exit();
}
