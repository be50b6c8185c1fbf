#include "tools/quotectl/quotectl.h"

int main(int argc, char** argv) { return quoteflow::RunQuotectl(argc, argv); }
