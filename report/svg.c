/* see svg.h: inline SVG charts (to be written) */
#include "report_int.h"

const char *
rpt_css_charts(void)
{
	return "";
}
