# man: rules go here
