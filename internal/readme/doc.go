// Package readme has no API. Its tests keep every Go snippet of the
// repository's README.md compiling: each ```go block there is preceded by a
// comment naming its twin in readme_test.go, a function that holds the same
// lines and is compiled with the tests, and TestREADMESnippets checks that the
// README shows each twin verbatim and that no ```go block lacks one.
package readme
