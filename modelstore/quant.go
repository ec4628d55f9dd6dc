package modelstore

import "strings"

// fileTypes names llama.cpp's general.file_type values (enum llama_ftype).
var fileTypes = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
	22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
	36: "TQ1_0", 37: "TQ2_0",
}

// FileTypeName is the quantization name of a general.file_type value, ""
// if unknown.
func FileTypeName(ft uint64) string { return fileTypes[ft&^1024] } // 1024: "guessed" flag

// QuantFromName finds a quantization name in a file name such as
// "VibeThinker-1.5B.Q4_K_M.gguf" ("Q4_K_M"), "" if there is none.
func QuantFromName(file string) string {
	for _, part := range nameParts(file) {
		up := strings.ToUpper(part)
		for _, q := range fileTypes {
			if up == q {
				return q
			}
		}
	}
	return ""
}

// nameParts splits a file name at the separators quant names sit between.
func nameParts(file string) []string {
	return strings.FieldsFunc(strings.TrimSuffix(file, ".gguf"), func(r rune) bool {
		return r == '.' || r == '-' || r == ' '
	})
}
