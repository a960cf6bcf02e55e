"""The playground: streamed answers from a base and a fine-tuned model side by side."""
