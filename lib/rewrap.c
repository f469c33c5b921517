/* see rewrap.h */
#include "rewrap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "stream.h"

static int
matches_any(const struct atr_stanza *s, struct atr_key *const *keys,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (keys[i]->ops->matches(keys[i],
		    (enum atr_provider_type)s->provider, s->key_id))
			return 1;
	return 0;
}

int
atr_rewrap_needed(const struct atr_header *h,
    const struct atr_rewrap_spec *spec)
{
	size_t i, j;

	for (i = 0; i < h->nstanzas; i++)
		if (matches_any(&h->st[i], spec->remove, spec->nremove))
			return 1;
	for (i = 0; i < spec->nadd; i++) {
		int present = 0;

		for (j = 0; j < h->nstanzas; j++)
			if (h->st[j].provider == (uint8_t)spec->add[i]->provider &&
			    strcmp(h->st[j].key_id, spec->add[i]->key_id) == 0)
				present = 1;
		if (!present)
			return 1;
	}
	return 0;
}

enum atr_err
atr_rewrap_file(const char *path, const struct atr_rewrap_spec *spec,
    int *changed)
{
	struct atr_header *h = NULL;
	struct atr_outfile o;
	uint8_t *spill = NULL, *hdr = NULL, *buf = NULL;
	size_t extra = 0, hl = 0, got;
	struct stat st;
	enum atr_err err;
	int fd = -1;

	*changed = 0;
	memset(&o, 0, sizeof(o));
	o.fd = -1;
	h = malloc(sizeof(*h));
	spill = malloc(ATR_HEADER_MAX);
	hdr = malloc(ATR_HEADER_MAX);
	buf = malloc(1U << 20);
	if (h == NULL || spill == NULL || hdr == NULL || buf == NULL) {
		err = ATR_ERR_NOMEM;
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err = atr_fail(ATR_ERR_IO, "cannot open: %s", strerror(errno));
		goto out;
	}
	err = atr_read_header(fd, h, spill, &extra);
	if (err != ATR_OK)
		goto out;
	if (!atr_rewrap_needed(h, spec)) {
		err = ATR_OK;
		goto out;
	}
	err = atr_rewrap_header(h, spec, hdr, &hl, changed);
	if (err != ATR_OK || !*changed)
		goto out;
	err = atr_out_begin(&o, path, st.st_mode & 07777);
	if (err != ATR_OK)
		goto out;
	err = atr_write_all(o.fd, hdr, hl);
	if (err == ATR_OK)
		err = atr_write_all(o.fd, spill, extra);
	/* The body is copied byte for byte: it is never decrypted. */
	while (err == ATR_OK) {
		err = atr_read_full(fd, buf, 1U << 20, &got);
		if (err != ATR_OK || got == 0)
			break;
		err = atr_write_all(o.fd, buf, got);
	}
	if (err == ATR_OK)
		err = atr_out_commit(&o, 0);
out:
	if (err != ATR_OK) {
		atr_out_abort(&o);
		*changed = 0;
	}
	if (fd >= 0)
		close(fd);
	free(h);
	free(spill);
	free(hdr);
	free(buf);
	return err;
}
