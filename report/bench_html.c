/* see report_int.h: the bench section (to be written) */
#include "report_int.h"

enum atr_err
rpt_bench_section(struct rpt_buf *b, const struct rpt_doc *const *runs,
    size_t n, const char *id)
{
	size_t i;

	rb_rawf(b, "<section id=\"%s\">\n<h2>Bench</h2>\n<ul>\n", id);
	for (i = 0; i < n; i++) {
		rb_raw(b, "<li>");
		rb_text(b, runs[i]->path);
		rb_raw(b, "</li>\n");
	}
	rb_raw(b, "</ul>\n</section>\n");
	return ATR_OK;
}
