/*
 * rewrap.h - replace an object's recipients in place, crash-safely.
 *
 * The new header and the untouched body go to a temporary file in the
 * object's directory, which is fsynced and renamed over the object, and
 * the directory is fsynced.  A crash at any moment leaves either the old
 * object or the new one, both complete; running the rewrap again skips
 * objects that are already done.
 */
#ifndef ATR_REWRAP_H
#define ATR_REWRAP_H

#include "envelope.h"

/* 1 when the header still has a stanza to remove or lacks one to add. */
int atr_rewrap_needed(const struct atr_header *h,
    const struct atr_rewrap_spec *spec);

/*
 * Rewraps the object at path.  *changed is 0 when it needed nothing
 * (already rewrapped).  On any error the object is left as it was.
 */
enum atr_err atr_rewrap_file(const char *path,
    const struct atr_rewrap_spec *spec, int *changed);

#endif
