"""seglab's terminal front end: the Typer CLI and the Textual dashboard."""
