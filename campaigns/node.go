package campaigns

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// kind is the shape of a YAML node.
type kind uint8

const (
	nullNode   kind = iota // absent or written as null / ~ / nothing
	scalarNode             // text, number or boolean
	mapNode
	seqNode
	badNode // already reported (an alias, a complex key): ignored by the decoder
)

// scalar types, as YAML resolved them.
const (
	tagString = "string"
	tagInt    = "int"
	tagFloat  = "float"
	tagBool   = "bool"
)

// node is a YAML node reduced to what campaign files use, remembering where
// it was written. The goccy AST is converted first so that kizuna.yaml and
// a campaign can be merged while every value keeps its own file and
// position, and so that the decoder sees one small type instead of a dozen.
type node struct {
	file      string
	line, col int    // position of the value
	kline     int    // position of the key that leads to it (0: none)
	kcol      int    //
	path      string // e.g. template.body.ja.actions[0]
	kind      kind
	tag       string // for scalars: tagString, tagInt, tagFloat or tagBool
	text      string // for scalars: the value as written (strings unquoted)
	keys      []*node
	vals      []*node
	items     []*node
}

// at is the position to report a problem about the node: its key when it
// has one (the value of a missing or null field has no place of its own).
func (n *node) at() (int, int) {
	if n.kline > 0 && (n.kind == nullNode || n.kind == mapNode || n.kind == seqNode) {
		return n.kline, n.kcol
	}
	return n.line, n.col
}

// get returns the value of key in a mapping node, or nil.
func (n *node) get(key string) *node {
	if n == nil || n.kind != mapNode {
		return nil
	}
	for i, k := range n.keys {
		if k.text == key {
			return n.vals[i]
		}
	}
	return nil
}

// parseYAML parses src (one YAML document) into a node tree. Syntax errors
// stop the parser, so a file with one has exactly that one problem.
func parseYAML(file string, src []byte) (*node, Problems) {
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		var se *yaml.SyntaxError
		if errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
			line, col, msg := syntaxPosition(src, se)
			return nil, Problems{{File: file, Line: line, Col: col, Message: "YAML syntax: " + msg}}
		}
		return nil, Problems{{File: file, Line: 1, Col: 1, Message: "YAML syntax: " + err.Error()}}
	}
	c := &converter{file: file}
	var root *node
	for i, doc := range f.Docs {
		if i == 1 {
			line, col := 1, 1
			if doc.Start != nil && doc.Start.Position != nil {
				line, col = doc.Start.Position.Line, doc.Start.Position.Column
			} else if doc.Body != nil {
				line, col = pos(doc.Body)
			}
			c.problem(line, col, "a campaign file holds one YAML document; split this one into its own file")
			break
		}
		if doc.Body != nil {
			root = c.convert(doc.Body, "", 0)
		}
	}
	if root == nil {
		root = &node{file: file, line: 1, col: 1, kind: nullNode}
	}
	return root, c.probs
}

// syntaxPosition is where a syntax error is in src, with its message. The
// parser reports the token where it noticed the problem, which for two
// common mistakes is not where the mistake is:
//
//   - a key indented deeper than the keys above it continues the previous
//     value as a multi-line plain scalar ("a\n   en"), so the error lands
//     on that value's first line; the mistake is the line of the colon that
//     follows it;
//   - an unclosed [ or { is noticed at the next key, lines later; the
//     mistake is the opening bracket.
func syntaxPosition(src []byte, se *yaml.SyntaxError) (line, col int, msg string) {
	tk := se.Token
	line, col, msg = tk.Position.Line, tk.Position.Column, se.Message
	switch {
	case strings.HasPrefix(msg, "mapping value is not allowed in this context") &&
		tk.Next != nil && tk.Next.Type == token.MappingValueType && tk.Next.Position != nil && tk.Next.Position.Line > line:
		// The key before that colon starts at the first non-blank of its line.
		line = tk.Next.Position.Line
		col = firstNonBlank(src, line)
		msg += " (is this key indented more than the keys above it?)"
	case strings.HasPrefix(msg, "',' or ']' must be specified"), strings.HasPrefix(msg, "',' or '}' must be specified"):
		start, end := token.SequenceStartType, token.SequenceEndType
		bracket := "["
		if strings.Contains(msg, "'}'") {
			start, end, bracket = token.MappingStartType, token.MappingEndType, "{"
		}
		depth := 0
		for p := tk.Prev; p != nil; p = p.Prev {
			if p.Type == end {
				depth++
			} else if p.Type == start {
				if depth == 0 {
					if p.Position != nil {
						msg = fmt.Sprintf("this %s is not closed: %s before line %d", bracket, msg, line)
						line, col = p.Position.Line, p.Position.Column
					}
					break
				}
				depth--
			}
		}
	}
	return line, col, msg
}

// firstNonBlank is the 1-based column of the first character of line n of
// src that is not a space, or 1.
func firstNonBlank(src []byte, n int) int {
	lines := strings.Split(string(src), "\n")
	if n < 1 || n > len(lines) {
		return 1
	}
	for i, r := range []rune(lines[n-1]) {
		if r != ' ' {
			return i + 1
		}
	}
	return 1
}

// maxDepth bounds nesting: campaign files are shallow, and a bound keeps
// hostile input from exhausting the stack.
const maxDepth = 64

type converter struct {
	file  string
	probs Problems
}

func (c *converter) problem(line, col int, format string, args ...any) {
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Col: col, Message: fmt.Sprintf(format, args...)})
}

func pos(n ast.Node) (int, int) {
	if n == nil {
		return 1, 1
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 1, 1
	}
	return tk.Position.Line, tk.Position.Column
}

func (c *converter) convert(an ast.Node, path string, depth int) *node {
	line, col := pos(an)
	n := &node{file: c.file, line: line, col: col, path: path}
	if depth > maxDepth {
		c.problem(line, col, "%snested too deeply", prefix(path))
		n.kind = badNode
		return n
	}
	switch v := an.(type) {
	case nil, *ast.NullNode:
		n.kind = nullNode
	case *ast.StringNode:
		n.kind, n.tag, n.text = scalarNode, tagString, v.Value
	case *ast.LiteralNode:
		n.kind, n.tag = scalarNode, tagString
		if v.Value != nil {
			n.text = v.Value.Value
		}
	case *ast.IntegerNode:
		n.kind, n.tag, n.text = scalarNode, tagInt, v.GetToken().Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		n.kind, n.tag, n.text = scalarNode, tagFloat, an.GetToken().Value
	case *ast.BoolNode:
		n.kind, n.tag, n.text = scalarNode, tagBool, strconv.FormatBool(v.Value)
	case *ast.MappingNode:
		n.kind = mapNode
		if !v.IsFlowStyle && len(v.Values) > 0 {
			n.line, n.col = pos(v.Values[0].Key)
		}
		for _, mv := range v.Values {
			c.mappingValue(n, mv, depth)
		}
	case *ast.MappingValueNode: // a mapping of one key
		n.kind = mapNode
		n.line, n.col = pos(v.Key)
		c.mappingValue(n, v, depth)
	case *ast.SequenceNode:
		n.kind = seqNode
		for i, item := range v.Values {
			n.items = append(n.items, c.convert(item, fmt.Sprintf("%s[%d]", path, i), depth+1))
		}
	case *ast.AnchorNode:
		c.problem(line, col, "%sYAML anchors (&name) are not supported; write the value out", prefix(path))
		return c.convert(v.Value, path, depth+1)
	case *ast.AliasNode:
		c.problem(line, col, "%sYAML aliases (*name) are not supported; write the value out", prefix(path))
		n.kind = badNode
	case *ast.TagNode:
		c.problem(line, col, "%sYAML tags (!tag) are not supported", prefix(path))
		return c.convert(v.Value, path, depth+1)
	default:
		c.problem(line, col, "%sunsupported YAML construct", prefix(path))
		n.kind = badNode
	}
	return n
}

func (c *converter) mappingValue(n *node, mv *ast.MappingValueNode, depth int) {
	kl, kc := pos(mv.Key)
	var key string
	switch k := mv.Key.(type) {
	case *ast.StringNode:
		key = k.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		key = k.GetToken().Value
	case *ast.MergeKeyNode:
		c.problem(kl, kc, "%sYAML merge keys (<<) are not supported", prefix(n.path))
		return
	default:
		c.problem(kl, kc, "%skeys must be plain names", prefix(n.path))
		return
	}
	childPath := key
	if n.path != "" {
		childPath = n.path + "." + key
	}
	val := c.convert(mv.Value, childPath, depth+1)
	if mv.Value == nil || val.kind == nullNode {
		// An empty value has no token of its own worth pointing at.
		val.line, val.col = kl, kc
	}
	val.kline, val.kcol = kl, kc
	n.keys = append(n.keys, &node{file: c.file, line: kl, col: kc, kind: scalarNode, tag: tagString, text: key, path: childPath})
	n.vals = append(n.vals, val)
}

// prefix is "path: " for messages about a value at path, or "" at the top.
func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// merge overlays a campaign on its defaults: mappings merge key by key
// (recursively), anything else in the campaign replaces the default, and a
// null in the campaign keeps the default. Nodes keep their own file and
// position, so a problem in an inherited value points into kizuna.yaml.
func merge(def, camp *node) *node {
	switch {
	case def == nil || def.kind == nullNode || def.kind == badNode:
		return camp
	case camp == nil || camp.kind == nullNode:
		return def
	case def.kind != mapNode || camp.kind != mapNode:
		return camp
	}
	out := *camp
	out.keys = append([]*node(nil), camp.keys...)
	out.vals = append([]*node(nil), camp.vals...)
	for i, k := range out.keys {
		if d := def.get(k.text); d != nil {
			out.vals[i] = merge(d, out.vals[i])
		}
	}
	for i, k := range def.keys {
		if camp.get(k.text) == nil && !hasKey(camp, k.text) {
			out.keys = append(out.keys, k)
			out.vals = append(out.vals, def.vals[i])
		}
	}
	return &out
}

func hasKey(n *node, key string) bool {
	for _, k := range n.keys {
		if k.text == key {
			return true
		}
	}
	return false
}
