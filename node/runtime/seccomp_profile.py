"""Default seccomp profile data (generated; do not edit by hand).

Source: containers-common ``seccomp.json`` (derived from moby's default profile), reduced to
x86_64 and to the rules that apply with Docker's 14 default capabilities. Each rule is
``(action, errno, names, args)`` with ``args`` = ``((index, op, value, value_two), ...)`` and
op numbers as libseccomp's ``enum scmp_compare`` (NE=1 LT=2 LE=3 EQ=4 GE=5 GT=6 MASKED_EQ=7).
Anything not listed gets ``DEFAULT_ERRNO`` (ENOSYS, so libc falls back e.g. from clone3).
"""

DEFAULT_ERRNO = 38

Rule = tuple[str, int, tuple[str, ...], tuple[tuple[int, int, int, int], ...]]



def _n(names: str) -> tuple[str, ...]:
    return tuple(names.split())


RULES: list[Rule] = [
    ('errno', 1, _n("""
    bdflush io_pgetevents kexec_file_load kexec_load migrate_pages move_pages nfsservctl nice
    oldfstat oldlstat oldolduname oldstat olduname pciconfig_iobase pciconfig_read pciconfig_write
    sgetmask ssetmask swapcontext swapoff swapon sysfs uselib userfaultfd ustat vm86 vm86old
    vmsplice
"""), ()),
    ('allow', 0, _n("""
    _llseek _newselect accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 clone clone3 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
    fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
    fremovexattr fsconfig fsetxattr fsmount fsopen fspick fstat fstat64 fstatat64 fstatfs fstatfs64
    fsync ftruncate ftruncate64 futex futex_time64 futimesat get_mempolicy get_robust_list
    get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
    getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority
    getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname
    getsockopt gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
    inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents io_setup io_submit ioctl
    ioprio_get ioprio_set ipc keyctl kill landlock_add_rule landlock_create_ruleset
    landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr llistxattr
    lremovexattr lseek lsetxattr lstat lstat64 madvise mbind membarrier memfd_create memfd_secret
    mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mount mount_setattr
    move_mount mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
    mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock
    munlockall munmap name_to_handle_at nanosleep newfstatat open open_tree openat openat2 pause
    pidfd_getfd pidfd_open pidfd_send_signal pipe pipe2 pivot_root pkey_alloc pkey_free
    pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
    process_vm_readv process_vm_writev pselect6 pselect6_time64 ptrace pwrite64 pwritev pwritev2
    read readahead readdir readlink readlinkat readv reboot recv recvfrom recvmmsg recvmmsg_time64
    recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
    sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
    semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_mempolicy set_robust_list
    set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setitimer setns setpgid setpriority setregid setregid32 setresgid
    setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid
    setuid32 setxattr shmat shmctl shmdt shmget shutdown sigaction sigaltstack signal signalfd
    signalfd4 sigpending sigprocmask sigreturn sigsuspend socketcall socketpair splice stat stat64
    statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs syscall sysinfo syslog tee
    tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
    timer_settime timer_settime64 timerfd timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask umount
    umount2 uname unlink unlinkat unshare utime utimensat utimensat_time64 utimes vfork wait4 waitid
    waitpid write writev
"""), ()),
    ('allow', 0, ('personality',), ((0, 4, 0, 0),)),
    ('allow', 0, ('personality',), ((0, 4, 8, 0),)),
    ('allow', 0, ('personality',), ((0, 4, 131072, 0),)),
    ('allow', 0, ('personality',), ((0, 4, 131080, 0),)),
    ('allow', 0, ('personality',), ((0, 4, 4294967295, 0),)),
    ('allow', 0, ('arch_prctl',), ()),
    ('allow', 0, ('modify_ldt',), ()),
    ('errno', 1, ('open_by_handle_at',), ()),
    ('errno', 1, _n("""
    bpf fanotify_init lookup_dcookie perf_event_open quotactl setdomainname sethostname setns
"""), ()),
    ('allow', 0, ('chroot',), ()),
    ('errno', 1, _n("""
    delete_module finit_module init_module query_module
"""), ()),
    ('errno', 1, ('acct',), ()),
    ('errno', 1, ('kcmp', 'process_madvise'), ()),
    ('errno', 1, ('ioperm', 'iopl'), ()),
    ('errno', 1, _n("""
    clock_settime clock_settime64 settimeofday stime
"""), ()),
    ('errno', 1, ('vhangup',), ()),
    ('allow', 0, ('socket',), ()),
]
