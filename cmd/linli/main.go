// Command linli is the message desk of a residential community office.
package main

func main() {}
