/* atrest rewrap: arrives with its own issue; until then it says so. */
#include <stdio.h>

#include "cli.h"

int
cmd_rewrap(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "atrest rewrap: not available in this build yet\n");
	return 2;
}
