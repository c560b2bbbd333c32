"""seglab's terminal front end: the `seglab` command (tui/cli/: Typer commands and their plain-terminal views)
and the Textual dashboard (app.py, screens/, widgets/). It only calls core and renders what core reports."""
