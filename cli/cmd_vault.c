/* atrest vault: arrives with its own issue; until then it says so. */
#include <stdio.h>

#include "cli.h"

int
cmd_vault(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "atrest vault: not available in this build yet\n");
	return 2;
}
