#pragma once
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli) over `length` bytes. Start with `crc = 0`.
/// Uses the SSE4.2 / ARMv8 CRC instructions when the CPU has them, a table otherwise.
uint32_t kv_crc32c_extend(uint32_t crc, const void *data, size_t length);

/// `flock(2)`; a wrapper because Swift cannot call a function that shares its name with a struct.
int kv_flock(int fd, int operation);

/// Makes a range of a file read as zeros, keeping its blocks allocated (`fallocate` ZERO_RANGE,
/// or PUNCH_HOLE then allocate again): 0, or -1 with errno set when neither is supported.
int kv_zero_range(int fd, long long offset, long long length);

/// What a path is: 0 missing, 1 directory, 2 regular file, 3 anything else. Follows symlinks.
int kv_path_kind(const char *path);

/// What an open descriptor is: 1 directory, 2 regular file, 3 anything else, -1 with errno set.
int kv_fd_kind(int fd);

/// The device and inode of an open descriptor: 0, or -1 with errno set.
int kv_fd_identity(int fd, unsigned long long *device, unsigned long long *inode);

/// The device and inode of the file at `path` (following symlinks): 0, or -1 with errno set.
int kv_path_identity(const char *path, unsigned long long *device, unsigned long long *inode);

/// Asks the CPU to bring the cache line at `p` in for writing (a hint; never faults).
static inline void kv_prefetch(const void *p) { __builtin_prefetch(p, 1, 3); }

/// `renameat2(RENAME_EXCHANGE)`: swaps two paths (files or directories, either non-empty) in one
/// atomic step: 0, or -1 with errno set (EINVAL where the file system cannot, EXDEV across them).
int kv_rename_exchange(const char *a, const char *b);

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts writing a range's dirty pages back without
/// waiting for it (a later `fdatasync` then has less to wait for): 0, or -1 with errno set.
int kv_start_writeback(int fd, long long offset, long long length);

/// The number of hard links of an open file: >= 0, or -1 with errno set.
long long kv_fd_link_count(int fd);

/// Whether the file system holding `path` is tmpfs (`*memory` = 1) and the bytes an unprivileged
/// user may still allocate on it: 0, or -1 with errno set.
int kv_file_system_space(const char *path, int *memory, long long *available);

/// The owner (user id) of an open file, or of the file at `path` (following links): 0, or -1 with errno set.
int kv_fd_owner(int fd, unsigned int *uid);
int kv_path_owner(const char *path, unsigned int *uid);

/// 1 when `path` itself is a symbolic link (not followed), 0 otherwise (also when missing).
int kv_path_is_symlink(const char *path);
