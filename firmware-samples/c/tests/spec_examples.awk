# Turns every ```hex example=NAME block of the edge SPEC into
#   static const unsigned char spec_NAME[] = {...};  (NAME with '-' as '_')
# plus a table of all of them, so the C tests check exactly the bytes the SPEC shows.
BEGIN { print "/* generated from the edge SPEC by tests/spec_examples.awk; do not edit */"; n = 0 }
/^```hex example=/ {
    name = $0; sub(/^```hex example=/, "", name); sub(/[ \t].*$/, "", name)
    cname = name; gsub(/-/, "_", cname)
    inblock = 1; bytes = ""; next
}
inblock && /^```/ {
    printf "static const unsigned char spec_%s[] = {%s};\n", cname, bytes
    names[n] = name; cnames[n] = cname; n++
    inblock = 0; next
}
inblock {
    for (i = 1; i <= NF; i++) bytes = bytes (bytes == "" ? "" : ", ") "0x" $i
}
END {
    print "struct spec_example { const char *name; const unsigned char *bytes; unsigned long len; };"
    print "static const struct spec_example spec_examples[] = {"
    for (i = 0; i < n; i++) printf "    {\"%s\", spec_%s, sizeof spec_%s},\n", names[i], cnames[i], cnames[i]
    print "};"
}
