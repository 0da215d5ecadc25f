# tests/tools: rules go here
