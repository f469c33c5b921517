/*
 * fsmeta.h - give a replacement file the metadata of the file it
 * replaces: owner, group, permission bits and extended attributes.
 *
 * POSIX ACLs are the extended attributes system.posix_acl_access and
 * system.posix_acl_default on Linux (acl(5)), so copying every
 * attribute copies them too, with no libacl.  Nothing is changed
 * silently: when an attribute cannot be reproduced (no privilege to
 * give the file its owner, a security.* label the process may not set)
 * the call fails with a detail naming what could not be kept.
 *
 * Ownership: the descriptors and the struct stat are the caller's,
 * borrowed for the call (nothing is closed or kept); the attribute lists
 * and values read meanwhile are freed before returning.  No state: safe
 * from any thread, on different files.
 */
#ifndef ATR_FSMETA_H
#define ATR_FSMETA_H

#include <sys/stat.h>

#include "err.h"

/*
 * Gives dst the owner and group in src (a stat of the original).  Done
 * before anything else: chown(2) may clear set-user-ID bits and file
 * capabilities, which atr_meta_finish then restores.  Needs root, or
 * the process's own uid and a group it is a member of.
 */
enum atr_err atr_meta_owner(int dst, const struct stat *src);

/*
 * Copies every extended attribute of src_fd onto dst (and removes any
 * that dst has and src_fd has not, e.g. an ACL inherited from the
 * directory's default ACL), then the permission bits, and checks that
 * owner, group and mode came out as in src.  Call it after the data is
 * written: write(2) clears file capabilities (security.capability).
 */
enum atr_err atr_meta_finish(int src_fd, int dst, const struct stat *src);

#endif
