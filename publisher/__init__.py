"""Write one Markdown post, publish it once to every channel."""
