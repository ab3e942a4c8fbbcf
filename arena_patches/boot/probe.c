// SPDX-License-Identifier: GPL-2.0
/*
 * arena-patches runtime probe: PID 1 of the test initramfs. Built static against the
 * kernel tree's own tools/include/nolibc and its UAPI headers; talks to the kernel only
 * through bpf(2) and prints one machine-readable line per answer. Only nolibc's public
 * API is used (syscall(), open(), mmap(), printf()...): its internals (my_syscallN, renamed
 * __nolibc_syscallN after 6.12) change between kernels, and the probe must build against
 * every tree from 6.12 on.
 *
 *
 *   ARENA-PROBE arena_map=ok|unsupported|error errno=N
 *   ARENA-PROBE sleepable_kfunc=ok|rejected|error retval=N   (a BPF_PROG_TYPE_SYSCALL program)
 *   ARENA-PROBE nonsleepable_kfunc=accepted|rejected|error   (a socket filter: never sleepable)
 *   ARENA-PROBE verifier_log=<the verifier's last words, when it rejected>
 *   ARENA-PROBE big_alloc=ok|failed|skipped
 *   ARENA-PROBE end
 *
 * The BPF programs themselves are assembled by arena-patches (Python) and stored in the
 * initramfs as /progs/*.bin; this program only loads them with the arena map's fd.
 */
#include <linux/bpf.h>
#include <linux/reboot.h>

#define ARENA_PAGES 4096
#define LOG_SIZE 65536

static char logbuf[LOG_SIZE];
static unsigned char progbuf[4096];

static long sys_bpf_call(int cmd, union bpf_attr *attr)
{
	long ret = syscall(__NR_bpf, cmd, attr, sizeof(*attr));

	/* the rest of the probe speaks the kernel's language: -errno on failure */
	return ret < 0 ? -errno : ret;
}

static void zero(void *p, unsigned long n)
{
	unsigned char *c = p;

	while (n--)
		*c++ = 0;
}

static int read_file(const char *path, unsigned char *buf, int max)
{
	int fd = open(path, O_RDONLY, 0), n, total = 0;

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + total, max - total)) > 0)
		total += n;
	close(fd);
	return total;
}

/* The verifier's last non-empty line, on one line. */
static const char *last_log_line(void)
{
	int end = 0, start;

	while (end < LOG_SIZE && logbuf[end])
		end++;
	while (end > 0 && (logbuf[end - 1] == '\n' || logbuf[end - 1] == ' '))
		logbuf[--end] = 0;
	start = end;
	while (start > 0 && logbuf[start - 1] != '\n')
		start--;
	/* "processed N insns" is a summary, not a reason: take the line before it */
	if (!strncmp(logbuf + start, "processed ", 10) && start > 0) {
		logbuf[start - 1] = 0;
		return last_log_line();
	}
	return logbuf + start;
}

static int load(const char *path, int map_fd, int prog_type, int sleepable)
{
	union bpf_attr attr;
	struct bpf_insn *insn = (struct bpf_insn *)progbuf;
	int n = read_file(path, progbuf, sizeof(progbuf)), i;

	if (n <= 0)
		return -1000;
	for (i = 0; i < n / 8; i++)
		if (insn[i].code == (BPF_LD | BPF_DW | BPF_IMM) && insn[i].src_reg == BPF_PSEUDO_MAP_FD)
			insn[i].imm = map_fd;
	zero(&attr, sizeof(attr));
	zero(logbuf, sizeof(logbuf));
	attr.prog_type = prog_type;
	attr.insns = (unsigned long)progbuf;
	attr.insn_cnt = n / 8;
	attr.license = (unsigned long)"GPL";
	attr.log_level = 1;
	attr.log_buf = (unsigned long)logbuf;
	attr.log_size = LOG_SIZE;
	attr.prog_flags = sleepable ? BPF_F_SLEEPABLE : 0;
	return sys_bpf_call(BPF_PROG_LOAD, &attr);
}

static long run(int prog_fd, unsigned int *retval)
{
	union bpf_attr attr;
	long err;

	zero(&attr, sizeof(attr));
	attr.test.prog_fd = prog_fd;
	err = sys_bpf_call(BPF_PROG_TEST_RUN, &attr);
	*retval = attr.test.retval;
	return err;
}

int main(void)
{
	union bpf_attr attr;
	unsigned int retval = 0;
	int map_fd, fd;
	char *mem;

	printf("ARENA-PROBE start\n");
	zero(&attr, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARENA;
	attr.max_entries = ARENA_PAGES;
	attr.map_flags = BPF_F_MMAPABLE;
	map_fd = sys_bpf_call(BPF_MAP_CREATE, &attr);
	if (map_fd < 0) {
		printf("ARENA-PROBE arena_map=%s errno=%d\n",
		       map_fd == -EINVAL ? "unsupported" : "error", -map_fd);
		goto out;
	}
	mem = mmap(NULL, ARENA_PAGES * 4096UL, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	if (mem == MAP_FAILED) {
		printf("ARENA-PROBE arena_map=error errno=%d\n", errno);
		goto out;
	}
	mem[0] = 42; /* a page fault in the arena: the kernel allocates the page */
	printf("ARENA-PROBE arena_map=%s errno=0\n", mem[0] == 42 ? "ok" : "error");

	fd = load("/progs/alloc_free.bin", map_fd, BPF_PROG_TYPE_SYSCALL, 1);
	if (fd < 0) {
		printf("ARENA-PROBE sleepable_kfunc=%s errno=%d\n", fd == -EACCES || fd == -EINVAL ? "rejected" : "error", -fd);
		printf("ARENA-PROBE verifier_log=%s\n", last_log_line());
	} else {
		long err = run(fd, &retval);

		if (err)
			printf("ARENA-PROBE sleepable_kfunc=error errno=%d\n", (int)-err);
		else
			printf("ARENA-PROBE sleepable_kfunc=%s retval=%u\n", retval == 1 ? "ok" : "error", retval);
	}

	fd = load("/progs/alloc_free.bin", map_fd, BPF_PROG_TYPE_SOCKET_FILTER, 0);
	if (fd >= 0) {
		printf("ARENA-PROBE nonsleepable_kfunc=accepted\n");
	} else {
		printf("ARENA-PROBE nonsleepable_kfunc=%s\n", fd == -EACCES || fd == -EINVAL ? "rejected" : "error");
		printf("ARENA-PROBE verifier_log=%s\n", last_log_line());
	}

	fd = load("/progs/big_alloc.bin", map_fd, BPF_PROG_TYPE_SYSCALL, 1);
	if (fd < 0) {
		printf("ARENA-PROBE big_alloc=skipped errno=%d\n", -fd);
	} else {
		long err = run(fd, &retval);

		if (err)
			printf("ARENA-PROBE big_alloc=failed errno=%d\n", (int)-err);
		else
			printf("ARENA-PROBE big_alloc=%s retval=%u\n", retval == 1 ? "ok" : "failed", retval);
	}
out:
	printf("ARENA-PROBE end\n");
	/* QEMU runs with -no-reboot: a restart ends it on every machine we boot. */
	reboot(LINUX_REBOOT_CMD_RESTART);
	return 0;
}
