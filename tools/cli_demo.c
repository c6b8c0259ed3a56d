/* cli_demo.c - placeholder until written */
#include "cli.h"
int cli_demo_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "sparq: demo is not built yet\n");
    return 1;
}
