/* cli_tune.c - placeholder until written */
#include "cli.h"
int cli_tune_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "sparq: tune is not built yet\n");
    return 1;
}
