# backing-store: rules go here
