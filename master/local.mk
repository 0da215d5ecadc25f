# master: rules go here
