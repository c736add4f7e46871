import KVToolCore

#if canImport(Glibc)
import Glibc
#endif

// The whole tool lives in KVToolCore; this only hands it the arguments and exits with its status.
exit(KVTool.run(arguments: Array(CommandLine.arguments.dropFirst())))
