# admin: rules go here
