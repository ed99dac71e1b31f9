"""The assistant in a terminal: the chat loop and the console the commands share."""
