#include "api/quote_api.h"

int main(int argc, char** argv) { return quoteflow::RunQuoteApi(argc, argv); }
