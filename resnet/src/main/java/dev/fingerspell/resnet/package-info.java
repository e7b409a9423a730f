/** ResNet18 as timm builds it and the embeddable inference API (to come: the ResNet issue). */
package dev.fingerspell.resnet;
