package main

import "strings"

// plainTeX renders the TeX of a short answer as plain text for terminals:
// "\frac{3}{4}" → "3/4", "2\sqrt{3}" → "2√3", "\boxed{x}" → "x",
// "x^{2}" → "x^2". It is for one-line summaries, not a TeX engine: what it
// does not know it keeps, minus the backslash.
func plainTeX(s string) string {
	s = strings.TrimSpace(s)
	s = strings.Trim(s, "$")
	var b strings.Builder
	texInto(&b, s)
	return strings.Join(strings.Fields(b.String()), " ")
}

var texSymbols = map[string]string{
	"times": "×", "cdot": "·", "div": "÷", "pm": "±", "mp": "∓", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
	"ne": "≠", "neq": "≠", "approx": "≈", "infty": "∞", "pi": "π", "theta": "θ", "alpha": "α", "beta": "β",
	"gamma": "γ", "lambda": "λ", "mu": "μ", "sigma": "σ", "phi": "φ", "omega": "ω", "Delta": "Δ",
	"circ": "°", "to": "→", "rightarrow": "→", "in": "∈", "cup": "∪", "cap": "∩", "emptyset": "∅",
	"ldots": "…", "cdots": "⋯", "dots": "…", "quad": " ", "qquad": " ", ",": " ", ";": " ", "!": "",
	"%": "%", "{": "{", "}": "}", "$": "$", "\\": " ",
	"left": "", "right": "", "displaystyle": "", "dfrac": "", "tfrac": "",
}

// texInto writes s as plain text. Commands with arguments are handled by
// name; unknown ones keep their name.
func texInto(b *strings.Builder, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			name, rest := texCommand(s[i+1:])
			i = len(s) - len(rest)
			switch name {
			case "frac", "dfrac", "tfrac", "binom":
				num, r1 := texGroup(rest)
				den, r2 := texGroup(r1)
				i = len(s) - len(r2)
				sep := "/"
				if name == "binom" {
					b.WriteString("C(")
					texInto(b, num)
					b.WriteString(", ")
					texInto(b, den)
					b.WriteString(")")
					continue
				}
				texAtom(b, num)
				b.WriteString(sep)
				texAtom(b, den)
			case "sqrt":
				arg, r := texGroup(rest)
				i = len(s) - len(r)
				b.WriteString("√")
				texAtom(b, arg)
			case "boxed", "text", "textbf", "mathrm", "mathbf", "operatorname", "mbox":
				arg, r := texGroup(rest)
				i = len(s) - len(r)
				texInto(b, arg)
			default:
				if sym, ok := texSymbols[name]; ok {
					b.WriteString(sym)
				} else {
					b.WriteString(name)
				}
			}
		case c == '{' || c == '}':
			i++
		case c == '^' || c == '_':
			b.WriteByte(c)
			arg, r := texGroup(s[i+1:])
			i = len(s) - len(r)
			texAtom(b, arg)
		case c == '$':
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
}

// texAtom writes an argument, in parentheses when it is more than one
// symbol ("\frac{a+1}{2}" → "(a+1)/2").
func texAtom(b *strings.Builder, arg string) {
	var inner strings.Builder
	texInto(&inner, arg)
	t := strings.TrimSpace(inner.String())
	if strings.ContainsAny(t, "+-−/ ×·") && !(strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")")) {
		b.WriteString("(" + t + ")")
		return
	}
	b.WriteString(t)
}

// texCommand splits a command name (letters, or one other character) off s.
func texCommand(s string) (name, rest string) {
	n := 0
	for n < len(s) && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z') {
		n++
	}
	if n == 0 && len(s) > 0 {
		n = 1
	}
	return s[:n], s[n:]
}

// texGroup splits one argument off s: a braced group or a single character.
func texGroup(s string) (arg, rest string) {
	s = strings.TrimLeft(s, " ")
	if s == "" {
		return "", ""
	}
	if s[0] != '{' {
		if s[0] == '\\' {
			name, r := texCommand(s[1:])
			return "\\" + name, r
		}
		return s[:1], s[1:]
	}
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[1:i], s[i+1:]
			}
		}
	}
	return s[1:], ""
}
