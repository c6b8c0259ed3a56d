/* cli_convert.c - placeholder until written */
#include "cli.h"
int cli_convert_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "sparq: convert is not built yet\n");
    return 1;
}
