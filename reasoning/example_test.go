package reasoning_test

import (
	"fmt"

	"github.com/thinkstream/thinkstream"
	"github.com/thinkstream/thinkstream/reasoning"
)

func Example() {
	p := reasoning.NewParser(reasoning.DefaultOptions())
	var events []thinkstream.Event
	for _, text := range []string{
		"<th", "ink>\nTwo plus two", " is four.\n\n",
		"Check:\n```py\n", "print(2 + 2)\n```\n",
		"</think>", "\n\nThe answer is $\\boxed{4}$.",
	} {
		events = p.AppendAdd(events, thinkstream.Token{Text: text, ID: -1})
	}
	events = p.AppendFinish(events)
	for _, e := range events {
		switch e.Type {
		case thinkstream.EventStep:
			fmt.Printf("step     %d\n", e.Index)
		case thinkstream.EventThinking:
			fmt.Printf("thinking step=%d %q\n", e.Step, e.Text)
		case thinkstream.EventCode:
			fmt.Printf("code     block=%d lang=%s channel=%s step=%d %q\n", e.Block, e.Lang, e.Channel, e.Step, e.Text)
		case thinkstream.EventAnswer:
			fmt.Printf("answer   %q\n", e.Text)
		case thinkstream.EventResult:
			fmt.Printf("result   %q\n", e.Answer)
		}
	}
	// Output:
	// step     1
	// thinking step=1 "\nTwo plus two"
	// thinking step=1 " is four.\n\n"
	// step     2
	// thinking step=2 "Check:\n"
	// code     block=1 lang=py channel=thinking step=2 "```py\n"
	// code     block=1 lang=py channel=thinking step=2 "print(2 + 2)\n```\n"
	// answer   "\n\nThe answer is $\\boxed{4}$."
	// result   "4"
}
