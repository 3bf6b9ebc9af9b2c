# embed_text.cmake — writes OUT, a C file defining `const char NAME[]` with the
# bytes of IN and a terminating NUL.
#   cmake -DNAME=ebmc_text_ebm_abi_h -DIN=runtime/ebm_abi.h -DOUT=ebm_abi_h.c -P embed_text.cmake
# Bytes, not a string literal: any content (quotes, backslashes, trigraphs,
# long lines, binary files) embeds unchanged.  With -DSIZE_NAME=..., the file
# also defines `const unsigned long SIZE_NAME`, the byte count (NUL excluded).
file(READ "${IN}" hex HEX)
string(REPEAT "[0-9a-f]" 32 sixteen_bytes)
string(REGEX REPLACE "(${sixteen_bytes})" "\\1\n    " hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
set(size_line "")
if(SIZE_NAME)
  file(SIZE "${IN}" size)
  set(size_line "const unsigned long ${SIZE_NAME} = ${size}UL;\n")
endif()
file(WRITE "${OUT}.tmp"
     "/* generated from ${IN} by cmake/embed_text.cmake; do not edit */\n"
     "const char ${NAME}[] = {\n    ${bytes}0x00};\n${size_line}")
file(RENAME "${OUT}.tmp" "${OUT}")
