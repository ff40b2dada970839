#include "app/application.h"

int main(int argc, char** argv) { return mi::app::run(argc, argv); }
