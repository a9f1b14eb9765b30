# fuzz/run_smoke.cmake — runs a libFuzzer binary from an empty corpus directory (CTest helper).
#
# Synopsis
#   cmake -D FUZZER=<exe> -D CORPUS=<dir> -D "ARGS=<flag;flag;...>" -P run_smoke.cmake
#   Empties CORPUS, runs `<exe> <ARGS...> <CORPUS>` and fails when the fuzzer exits non-zero
#   (a crash, a sanitizer report or an invariant violation in the harness).
foreach(var FUZZER CORPUS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_smoke.cmake: -D ${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${CORPUS})
file(MAKE_DIRECTORY ${CORPUS})
execute_process(COMMAND ${FUZZER} ${ARGS} ${CORPUS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} exited with ${rc}")
endif()
