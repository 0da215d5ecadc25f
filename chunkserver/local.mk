# chunkserver: rules go here
