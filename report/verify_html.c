/* see report_int.h: one verify report's section (to be written) */
#include "report_int.h"

enum atr_err
rpt_verify_section(struct rpt_buf *b, const struct rpt_doc *d, const char *id)
{
	rb_rawf(b, "<section id=\"%s\">\n<h2>Verify: ", id);
	rb_text(b, d->path);
	rb_raw(b, "</h2>\n</section>\n");
	return ATR_OK;
}
